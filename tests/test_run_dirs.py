"""Run directories appear whole or not at all, name each model's run file by a unique slug, write only TREC files
they can read back, and are checked by every reader against the file list results.json records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedscope.rundir import RunDirError, read_results, read_runs
from embedscope.runs import Run
from embedscope.runs.run import TrecError


def invoke(*args):
    """The CLI as `embedscope` runs it: (exit code, stderr) through the one-line error handler."""
    from embedscope.cli import cli
    from embedscope.cli.errors import run_cli

    argv = sys.argv
    sys.argv = ["embedscope", *args]
    try:
        return run_cli(cli)
    finally:
        sys.argv = argv


def test_models_whose_names_sanitise_alike_keep_their_own_run_files(synthetic_dir, tmp_path):
    from conftest import embedscope_run

    run_dir = embedscope_run(tmp_path, "--data", str(synthetic_dir), "-m", "bm25?name=模型", "-m", "wordllama?name=向量")
    results = read_results(run_dir)
    files = [m.run_file for m in results.models]
    assert len(set(files)) == 2 and all((run_dir / f).is_file() for f in files)
    assert {m.slug for m in results.models} == {Path(f).stem for f in files}
    runs = read_runs(run_dir)
    # each name reads back its own model's hits: BM25's scores are not cosines
    assert max(s for hits in runs["模型"].scores.values() for s in hits.values()) > 1.5
    assert max(s for hits in runs["向量"].scores.values() for s in hits.values()) <= 1.0 + 1e-6


def test_slugs_are_stable_unique_and_plain_where_possible():
    from embedscope.report.outputs import slugs

    names = ["minilm", "bm25?name=模型", "wordllama?name=向量", "BM25", "bm25", "a/b", "a_b", "x" * 300]
    got = slugs(names)
    assert got == slugs(list(reversed(names)))  # stable: the same name, the same slug
    assert len({s.casefold() for s in got.values()}) == len(names)  # unique, even on case-insensitive disks
    assert got["minilm"] == "minilm" and slugs(["a_b"]) == {"a_b": "a_b"}  # plain unless it would collide
    assert got["a_b"] != got["a/b"]
    assert all(len(s) <= 100 and "/" not in s for s in got.values())


@pytest.mark.parametrize("bad", ["doc one", "doc\tone", "doc\none", "doc\u3000one", "doc\x1cone", "doc\u2028", "\ufeffdoc", ""])
def test_trec_writer_refuses_ids_it_cannot_carry(tmp_path, bad):
    for scores in ({"q1": {bad: 1.0}}, {bad: {"d1": 1.0}}):
        with pytest.raises(TrecError, match="TREC run format cannot carry"):
            Run("m", scores).to_trec(tmp_path / "run.trec")
        assert not (tmp_path / "run.trec").exists()  # refused before the file was opened
    with pytest.raises(TrecError, match="finite"):
        Run("m", {"q1": {"d1": float("nan")}}).to_trec(tmp_path / "run.trec")


ID = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(lambda s: s.split() == [s] and "\ufeff" not in s)


@settings(max_examples=60, deadline=None)
@given(scores=st.dictionaries(ID, st.dictionaries(ID, st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=5),
                              min_size=1, max_size=5))
def test_what_the_writer_accepts_the_reader_reads_back(tmp_path_factory, scores):
    path = tmp_path_factory.mktemp("trec") / "r.trec"
    Run("model name with spaces", scores).to_trec(path)
    back = Run.from_trec(path)
    assert set(back.scores) == set(scores)
    for qid, hits in scores.items():
        assert back.scores[qid].keys() == hits.keys()
        assert [d for d, _ in back.ranked(qid)] == [d for d, _ in Run("x", {qid: {d: float(f"{s:.8f}") for d, s in hits.items()}}).ranked(qid)]


# --- written whole or not at all -------------------------------------------------------------------------------

def _outputs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_a_failure_while_writing_leaves_no_run_directory(synthetic_dir, tmp_path, monkeypatch):
    import embedscope.report.outputs as outputs

    def broken(*args, **kwargs):
        raise RuntimeError("failed half way through writing")

    monkeypatch.setattr(outputs, "summary_markdown", broken)
    with pytest.raises(RuntimeError):
        invoke("run", "--data", str(synthetic_dir), "-m", "bm25", "-o", str(tmp_path / "runs"),
               "--cache", str(tmp_path / "cache"), "-q")
    assert _outputs(tmp_path / "runs") == []  # neither a run directory nor a hidden partial one


def test_a_partial_directory_left_by_a_killed_writer_is_removed(synthetic_dir, tmp_path):
    from embedscope.report.outputs import _host

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        root = tmp_path / "runs"
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        abandoned = root / f".20250101-000000-x.partial-{_host()}-{dead.stdout.strip()}-0123abcd"
        running = root / f".20250101-000000-y.partial-{_host()}-{sleeper.pid}-0123abcd"
        for folder in (abandoned, running):
            (folder / "runs").mkdir(parents=True)
        assert invoke("run", "--data", str(synthetic_dir), "-m", "bm25", "-o", str(root),
                      "--cache", str(tmp_path / "cache"), "-q") == 0
        assert not abandoned.exists() and running.exists()  # another process's work in progress is left alone
        assert len([n for n in _outputs(root) if not n.startswith(".")]) == 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_readers_check_what_they_read(synthetic_dir, tmp_path, capsys):
    from conftest import embedscope_run

    run_dir = embedscope_run(tmp_path, "--data", str(synthetic_dir), "-m", "bm25", "-m", "tokenlearn")
    results = read_results(run_dir)
    assert set(results.files) == {"per_query.csv", "summary.md", *(m.run_file for m in results.models)}

    # a hand edit of results.json (say, a dataset that moved) is fine: the files it lists are still checked
    raw = json.loads((run_dir / "results.json").read_text())
    raw["settings"]["note"] = "edited by hand"
    (run_dir / "results.json").write_text(json.dumps(raw))
    assert set(read_runs(run_dir)) == {"bm25", "tokenlearn-static-64d"}

    trec = run_dir / results.models[0].run_file
    original = trec.read_bytes()
    trec.write_bytes(original[: len(original) // 2])
    with pytest.raises(RunDirError, match="cut short"):
        read_runs(run_dir)
    trec.write_bytes(original.replace(b" Q0 ", b" Q1 ", 1))  # same size, other bytes
    with pytest.raises(RunDirError, match="checksum"):
        read_runs(run_dir)
    capsys.readouterr()
    assert invoke("show", str(run_dir)) == 2
    err = capsys.readouterr().err
    assert str(trec) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_files_added_later_are_listed_and_checked(synthetic_dir, tmp_path, capsys):
    """report.html, judgments, the pool and a cluster map written into a finished run directory join its list of
    files (size and SHA-256), so readers and `verify` check them like the run's own; two writers racing to add
    files lose none of each other's entries."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import embedscope_run

    from embedscope.judgments import JudgmentStore, judgments_path
    from embedscope.results import sha256_of
    from embedscope.files import write_file
    from embedscope.rundir import checked_file, verify

    run_dir = embedscope_run(tmp_path, "--data", str(synthetic_dir), "-m", "bm25")
    assert verify(run_dir) == []
    assert invoke("verify", str(run_dir)) == 0 and "0 problem(s)" in capsys.readouterr().out
    assert invoke("report", str(run_dir)) == 0
    assert invoke("pool", "--run-dir", str(run_dir), "--depth", "3", "--cache", str(tmp_path / "cache"), "-q") == 0
    qid, did = next((q, d) for q, docs in read_runs(run_dir)["bm25"].scores.items() for d in docs)
    JudgmentStore(judgments_path(run_dir)).set(qid, did, 2)
    with ThreadPoolExecutor(8) as pool:  # concurrent writers, one list
        list(pool.map(lambda i: write_file(run_dir / "extra" / f"note-{i}.txt", f"note {i}\n" * i), range(16)))
    files = read_results(run_dir).files
    added = {"report.html", "pool/pool.tsv", "pool/evaluation.json", "judgments/qrels.tsv",
             *(f"extra/note-{i}.txt" for i in range(16))}
    assert added <= set(files), sorted(added - set(files))
    for relative in added:
        assert files[relative].sha256 == sha256_of(run_dir / relative)
        assert files[relative].bytes == (run_dir / relative).stat().st_size
    assert verify(run_dir) == []

    (run_dir / "report.html").write_text("<html>changed by hand</html>")
    (run_dir / "stray.txt").write_text("not written by embedscope")
    problems = verify(run_dir)
    assert len(problems) == 2 and "report.html" in problems[0] and "stray.txt" in problems[1], problems
    with pytest.raises(RunDirError, match="cut short or changed"):
        checked_file(run_dir, "report.html")
    capsys.readouterr()
    assert invoke("verify", str(run_dir)) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == problems and lines[-1].endswith("2 problem(s)"), lines


# --- a full disk --------------------------------------------------------------------------------------------------

FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    sys.argv = ["embedscope", *sys.argv[2:]]
    from embedscope.cli import main
    main()
    """
)


def _check_nothing_half_written(result, root: Path, earlier: Path, tmp_path: Path) -> None:
    assert result.returncode == 2, result.stderr
    (err,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.stderr
    assert "cannot write" in err and str(root) in err and ".trec" in err  # the file it was writing
    assert "the incomplete run directory was removed" in err
    assert _outputs(root) == [earlier.name]  # the earlier complete run, nothing else
    # and `report` is not confused afterwards: the earlier run still reads and reports
    report = subprocess.run([sys.executable, "-m", "embedscope", "report", str(earlier), "-o",
                             str(tmp_path / "report.html")], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr


def _earlier_run(synthetic_dir, tmp_path: Path, root: Path) -> tuple[list[str], Path]:
    """An earlier complete run (BM25, small) in `root`, and the arguments of a run whose outputs are larger (a
    dense model's run file too) with every vector already cached, so only the run directory is written."""
    common = ["run", "--data", str(synthetic_dir), "--cache", str(tmp_path / "cache"), "-q"]
    assert invoke(*common, "-m", "tokenlearn", "-o", str(tmp_path / "warm")) == 0
    assert invoke(*common, "-m", "bm25", "-o", str(tmp_path / "first")) == 0
    (earlier,) = (tmp_path / "first").iterdir()
    root.mkdir(exist_ok=True)
    shutil.copytree(earlier, root / earlier.name)
    return [*common, "-m", "bm25", "-m", "tokenlearn"], root / earlier.name


def test_a_file_size_limit_hit_while_writing_outputs_leaves_no_half_written_run(synthetic_dir, tmp_path):
    """A write that the kernel refuses mid-way (here EFBIG from a file-size limit: no root needed)."""
    root = tmp_path / "runs"
    args, earlier = _earlier_run(synthetic_dir, tmp_path, root)
    script = tmp_path / "limited.py"
    script.write_text(FULL_DISK)
    limit = 16 * 1024  # the run files are larger
    result = subprocess.run([sys.executable, str(script), str(limit), *args, "-o", str(root)],
                            capture_output=True, text=True, timeout=300)
    assert "File too large" in result.stderr
    _check_nothing_half_written(result, root, earlier, tmp_path)


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 48 KB file system (tmpfs); needs the right to mount, else the test skips saying so."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True,
                          text=True) if shutil.which("mount") and os.geteuid() == 0 else None
    if made is None or made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() if made else 'not root'}); the file-size "
                    f"limit test covers the same path")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_while_writing_outputs_leaves_no_half_written_run(synthetic_dir, tmp_path, tiny_disk):
    root = tiny_disk / "runs"
    args, earlier = _earlier_run(synthetic_dir, tmp_path, root)
    result = subprocess.run([sys.executable, "-m", "embedscope", *args, "-o", str(root)], capture_output=True,
                            text=True, timeout=300)
    assert "No space left on device" in result.stderr
    _check_nothing_half_written(result, root, earlier, tmp_path)
