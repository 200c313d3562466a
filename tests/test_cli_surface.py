"""The command line's surface: one option vocabulary, one spec grammar, old spellings that still work (with a
warning), --config on every command that takes data and models, few parameters per callback, a fast help,
`--version` and `doctor`.

Most checks walk the click commands themselves (no model runs); a few run a command end to end on small data."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from embedscope.cli import COMMANDS, cli, options
from embedscope.cli.errors import run_cli

# Commands that take data and models: each takes the shared data options, --model and --config.
DATA_AND_MODELS = ["run", "bench", "cluster", "db-bench", "embed", "pipeline", "pool", "sweep compression",
                   "sweep ann", "generate-queries", "mine", "finetune"]
# A few commands write one file or folder of their own rather than run directories into --output's folder; the
# option keeps its name there (with the same -o) and its help says what it is.
OWN_OUTPUT = {"report": "HTML file", "generate-queries": "Folder to write", "mine": "JSONL file",
              "finetune": "Folder for report.json"}
# report keeps this many queries in its explorer: a size of the report, not a sample of the evaluation.
OWN_MEANING = {("report", "--max-queries")} | {(name, "--output") for name in OWN_OUTPUT}


def walk(group: click.Group = cli, prefix: str = ""):
    """(path, command) for every leaf command, subcommands of groups included."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from walk(command, path + " ")
        else:
            yield path, command


ALL = dict(walk())


def reference_options() -> dict[str, click.Option]:
    """The shared options as defined once in embedscope/cli/options.py, by long name."""

    def dummy(**kwargs):
        return kwargs

    out = {}
    for key, decorate in options.OPTIONS.items():
        option = decorate(dummy).__click_params__[-1]
        dummy.__click_params__ = []
        out[next(o for o in option.opts if o.startswith("--"))] = option
    return out


SHARED = reference_options()


def test_every_subcommand_is_listed_with_its_own_summary():
    ctx = click.Context(cli)
    assert sorted(cli.list_commands(ctx)) == sorted(COMMANDS)
    for name, (_, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command.name == name
        assert " ".join(command.help.split("\n\n")[0].split()) == summary, name


@pytest.mark.parametrize("path", sorted(ALL))
def test_shared_options_are_identical_wherever_they_appear(path):
    for param in ALL[path].params:
        if not isinstance(param, click.Option):
            continue
        long = next((o for o in param.opts if o.startswith("--")), None)
        if long in SHARED and (path, long) not in OWN_MEANING:
            assert options.describe(param) == options.describe(SHARED[long]), f"{path} {long}"
        # a shared option's short flag means that option everywhere
        for short in (o for o in param.opts if not o.startswith("--")):
            owner = next((name for name, ref in SHARED.items() if short in ref.opts), None)
            assert owner in (None, long), f"{path}: {short} is {long} here but {owner} elsewhere"


def test_short_flags_mean_one_thing_everywhere():
    meaning: dict[str, set[str]] = {}
    for command in [cli, *ALL.values()]:
        for param in command.params:
            long = next((o for o in param.opts if o.startswith("--")), None)
            for short in (o for o in param.opts if not o.startswith("--")):
                meaning.setdefault(short, set()).add(long)
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    assert meaning["-q"] == {"--quiet"} and meaning["-m"] == {"--model"} and meaning["-o"] == {"--output"}


def test_own_outputs_say_what_they_are():
    for path, what in OWN_OUTPUT.items():
        option = next(p for p in ALL[path].params if "--output" in getattr(p, "opts", ()))
        assert what in option.help


@pytest.mark.parametrize("path", DATA_AND_MODELS)
def test_data_and_model_commands_share_the_vocabulary(path):
    names = {o for p in ALL[path].params for o in getattr(p, "opts", ())}
    assert {"--config", "--data", "--quiet", "--verbose"} <= names, path
    assert "--model" in names or path in ("generate-queries", "finetune"), path  # finetune: --base
    assert "--metric" not in names or options.describe(
        next(p for p in ALL[path].params if "--metric" in p.opts))["multiple"]


@pytest.mark.parametrize("path", DATA_AND_MODELS)
def test_every_data_and_model_command_reads_config(path, tmp_path, capsys, monkeypatch):
    """A config file with a bad setting stops each command before any work, naming the file and the line: each
    reads --config through the same loader, with the same keys as the options."""
    config = tmp_path / "settings.yaml"
    config.write_text("split: test\nmax_docs: 0\n")
    extra = {"generate-queries": ["-o", str(tmp_path / "g")], "mine": ["-o", str(tmp_path / "m.jsonl")],
             "finetune": ["-o", str(tmp_path / "f")]}.get(path, [])
    monkeypatch.setattr(sys, "argv", ["embedscope", *path.split(), "--config", str(config), *extra])
    assert run_cli(cli) == 2
    err = capsys.readouterr().err
    assert f"{config}:2: 'max_docs' must be a whole number of at least 1, got 0" in err, err


def test_config_values_apply_and_options_override_them(synthetic_dir, tmp_path):
    """cluster reads its data, model, metric and cache from the config file; --max-queries given overrides it."""
    config = tmp_path / "cluster.yaml"
    config.write_text(f"data: {synthetic_dir}\nmodels: [tokenlearn]\nmetrics: [recall@10]\nmax_queries: 5\n"
                      f"cache: {tmp_path / 'cache'}\noutput: {tmp_path / 'runs'}\n")
    result = CliRunner().invoke(cli, ["cluster", "--config", str(config), "--clusters", "3", "--max-queries", "10"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "runs").rglob("clusters_report.json")).read_text())
    assert report["model"].startswith("tokenlearn") and "recall@10_by_cluster" in report
    assert report["title"].startswith("synthetic-sub10q") and report["clusters"] == 3
    assert any((tmp_path / "cache").iterdir())


# ---- old spellings ---------------------------------------------------------------------------------------------

ALIASES = [  # (command, old command line, the old spelling, option whose value it sets, the value, new spelling)
    ("show", ["RUN", "-q", "q7"], "-q", "query_ids", ("q7",), "--query"),
    ("show", ["RUN", "--k", "5"], "--k", "hits", 5, "--hits"),
    ("show", ["RUN", "--model", "bm25"], "--model", "models", ("bm25",), "--only"),
    ("show", ["RUN", "-m", "bm25"], "-m", "models", ("bm25",), "--only"),
    ("report", ["RUN", "--k", "5"], "--k", "hits", 5, "--hits"),
    ("serve", ["RUN", "--k", "5"], "--k", "hits", 5, "--hits"),
    ("cluster", ["--k", "2..9"], "--k", "clusters", "2..9", "--clusters"),
    ("pool", ["--labels", "x.tsv"], "--labels", "judgments", ("x.tsv",), "--judgments"),
    ("pool", ["--depth", "7"], "--depth", "depth", 7, "--pool-depth"),
    ("db-bench", ["-b", "qdrant"], "-b", "backends", ("qdrant",), "--backend"),
    ("sweep ann", ["--index", "faiss:HNSW32"], "--index", "indexes", ("faiss:HNSW32",), "--index-spec"),
    ("embed", ["--column", "emb_x"], "--column", "column", "emb_x", "--export-column"),
    ("bench", ["-o", "perf.json"], "-o", "perf_file", "perf.json", "--perf-file"),
    ("bench", ["--output=perf.json"], "--output", "perf_file", "perf.json", "--perf-file"),
    ("mine", ["--split", "dev", "-o", "x.jsonl"], "--split", "split", "dev", "--train-split"),
]


@pytest.mark.parametrize("path, args, old, dest, value, new", ALIASES, ids=[f"{a[0]} {a[2]}" for a in ALIASES])
def test_old_spellings_work_with_one_warning(path, args, old, dest, value, new, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "RUN").mkdir()
    monkeypatch.setattr(options, "_warned", set())
    command, parent = ALL[path], click.Context(cli, info_name="python -m embedscope")
    if " " in path:
        parent = click.Context(cli.get_command(parent, path.split()[0]), parent=parent, info_name=path.split()[0])
    ctx = command.make_context(path.split()[-1], list(args), parent=parent)
    assert ctx.params[dest] == value
    command.make_context(path.split()[-1], list(args), parent=parent)  # twice: still one warning
    err = capsys.readouterr().err
    assert err.count("deprecated") == 1 and new in err and f"`embedscope {path} {old}`" in err, err


def test_new_spellings_warn_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "RUN").mkdir()
    ctx = ALL["show"].make_context("show", ["RUN", "-q", "--query", "q7", "--hits", "3"])
    assert ctx.params["query_ids"] == ("q7",) and ctx.params["quiet"] is True
    ctx = ALL["embed"].make_context("embed", ["--column", "doc_text=body"])  # the shared column mapping
    assert ctx.params["columns"] == ("doc_text=body",)
    assert "deprecated" not in capsys.readouterr().err


def test_old_cluster_option_runs_end_to_end(synthetic_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "embedscope", "cluster", "--data", str(synthetic_dir), "-m",
                             "tokenlearn", "--k", "3", "--max-docs", "60", "--cache", str(tmp_path / "c"), "-o",
                             str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: `embedscope cluster --k` is deprecated") == 1
    assert "3 clusters" in result.stdout


# ---- the one spec grammar --------------------------------------------------------------------------------------

MALFORMED = [  # (spec, the part the message must name)
    ("minilm?dims", "'dims'"),
    ("minilm?", "'?'"),
    ("Bad Kind:x", "'Bad Kind'"),
    ("hybrid:bm25+", "'bm25+'"),
    ("rerank:minilm>", "'minilm>'"),
    ("st:/models/e5?query_prompt", "'query_prompt'"),
]


@pytest.mark.parametrize("spec, part", MALFORMED)
def test_a_malformed_model_spec_names_its_part_and_shows_the_grammar(spec, part, synthetic_dir, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setattr(sys, "argv", ["embedscope", "run", "--data", str(synthetic_dir), "-m", spec,
                                      "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")])
    assert run_cli(cli) == 2
    out = capsys.readouterr().err
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in out, out
    assert part in errors[0] and "KIND[:TARGET][?OPTION=VALUE&OPTION=VALUE...]" in errors[0], out
    assert "START..END" in errors[0] and "***" not in errors[0], out
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("index, part", [("faiss:HNSW32?efSearch", "'efSearch'"), ("milvus:db:http", "'db:http'")])
def test_a_malformed_index_spec_stops_before_any_work(index, part, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["embedscope", "run", "--data", str(tmp_path / "not-read"), "--index", index])
    assert run_cli(cli) == 2
    out = capsys.readouterr().err
    assert out.startswith("error:") and len(out.strip().splitlines()) == 1, out
    assert part in out and "KIND[:TARGET][?OPTION=VALUE" in out and "not-read" not in out, out


def test_one_range_syntax_and_the_old_one_with_a_warning(caplog):
    from embedscope import specs
    from embedscope.clusters import parse_ks
    from embedscope.finetune.mining import parse_range

    assert parse_ks("2..5") == [2, 3, 4, 5] and parse_ks("4,8") == [4, 8] and parse_ks("6") == [6]
    assert parse_range("2..200") == (2, 200)
    specs._warned.clear()
    with caplog.at_level("WARNING", logger="embedscope.specs"):
        assert parse_range("2-200") == (2, 200)
    assert "write 'rank range 2..200'" in caplog.text
    for bad, part in (("2..x", "'2..x'"), ("9..3", "starts after it ends"), ("4,eight", "'eight'")):
        with pytest.raises(specs.SpecError, match=part):
            parse_ks(bad)


# ---- callbacks, --version, doctor, start-up -------------------------------------------------------------------

def innermost(function):
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


@pytest.mark.parametrize("path", sorted(ALL))
def test_callbacks_take_few_parameters(path):
    """Related options arrive grouped (settings, small dataclasses), not as twenty loose arguments."""
    parameters = inspect.signature(innermost(ALL[path].callback)).parameters
    assert len(parameters) <= 10, f"{path}: {list(parameters)}"


def test_version_lists_key_dependencies():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("embedscope ")
    for name in ("torch", "sentence-transformers", "faiss-cpu", "openvino"):
        line = next(line for line in lines if line.split()[0] == name)
        assert line.split()[1][0].isdigit() or line.endswith("not installed")
    from embedscope.cli import version

    assert version("no-such-distribution-here") is None


def test_doctor_says_what_runs_and_why_not(monkeypatch):
    from embedscope.cli import doctor

    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    checks = {(c["section"], c["name"]): c for c in json.loads(result.output)}
    assert {s for s, _ in checks} == set(doctor.SECTIONS)
    assert checks[("models", "all-MiniLM-L6-v2")]["ok"]  # the bundled model is a test dependency
    cohere = checks[("models", "cohere API")]
    assert not cohere["ok"] and "COHERE_API_KEY" in cohere["detail"]
    assert all(c["detail"] for c in checks.values())  # every line says what or why not
    # CPU instructions decide what int8 and bf16 are worth
    rows = {c.name: c for c in doctor.cpu({"avx2", "avx512f", "avx512_vnni"})}
    assert rows["int8 (VNNI)"].ok and "avx512_vnni" in rows["int8 (VNNI)"].detail
    assert not rows["bf16"].ok and "emulated" in rows["bf16"].detail
    assert not doctor.cpu({"avx2"})[1].ok
    assert doctor.cpu_flags("processor : 0\nflags : fpu avx2 avx_vnni\n") == {"fpu", "avx2", "avx_vnni"}


def test_doctor_explains_a_missing_binary(monkeypatch):
    from embedscope.cli import doctor

    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    rows = {c.name: c for c in doctor.browser()}
    assert not rows["chromium"].ok and "apt-get install chromium" in rows["chromium"].detail
    result = CliRunner().invoke(cli, ["doctor", "--section", "browser"])
    assert "no  " in result.output and "chromium-driver" in result.output


def test_help_lists_commands_without_importing_them():
    code = ("import sys; from embedscope.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.startswith('embedscope.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['embedscope.cli.errors']" or out.stdout.strip() == "[]", out.stdout
