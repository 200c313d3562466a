"""Named datasets: download once (checksummed, unpacked atomically), register local copies, resolve by name.

Downloads are tested end to end against a loopback HTTP server serving a real zip made here, a truncated one and one
whose checksum is wrong: each fault is one clear error, leaves nothing behind, and a retry then succeeds.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_beir_folder

from embedscope.cli import cli
from embedscope.data import DataError, load, load_beir, register, resolve
from embedscope.data import named
from embedscope.data.download import fetch


def zip_folder(folder: Path, top: str | None) -> bytes:
    """A zip of `folder`'s files, under a top folder `top` as BEIR's zips are (or at the zip's root)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                z.write(path, f"{top}/{rel}" if top else rel)
    return buffer.getvalue()


class Files(http.server.BaseHTTPRequestHandler):
    """Serves `files[path] = (body, mode)`; mode 'cut' announces the full length and sends half, then hangs up."""

    files: dict[str, tuple[bytes, str]] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        if self.path not in self.files:
            self.send_error(404)
            return
        body, mode = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)
        self.wfile.flush()
        if mode == "cut":
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Files.files, Files.hits = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Files
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def tiny_zip(synthetic, tmp_path) -> bytes:
    return zip_folder(write_beir_folder(synthetic.subset(n_queries=5, n_docs=30), tmp_path / "src"), "tiny")


def entry_for(url: str, body: bytes, name: str = "tiny") -> named.CatalogEntry:
    return named.CatalogEntry(name, url, hashlib.md5(body).hexdigest(), len(body), 30, 5, "CC0")


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_verifies_unpacks_and_loads(server, tiny_zip, tmp_path):
    base, files = server
    files.files["/tiny.zip"] = (tiny_zip, "ok")
    root = tmp_path / "cache"
    folder = fetch(entry_for(f"{base}/tiny.zip", tiny_zip), root)
    assert folder == root / "tiny" and leftovers(root) == ["tiny"]
    dataset = load_beir(folder)
    assert len(dataset.queries) == 5 and len(dataset.corpus) >= 5 and dataset.name == "tiny"


@pytest.mark.parametrize("fault, message", [
    ("cut", "download cut short after"),
    ("wrong", "checksum mismatch: md5"),
    ("garbage", "not a readable zip"),
])
def test_a_fault_leaves_nothing_and_a_retry_succeeds(server, tiny_zip, tmp_path, fault, message):
    base, files = server
    root = tmp_path / "cache"
    entry = entry_for(f"{base}/tiny.zip", tiny_zip)
    if fault == "garbage":  # a file whose checksum is right but which is no zip: caught when unpacking
        garbage = b"PK\x03\x04 this is not a zip at all" * 100
        entry = entry_for(f"{base}/tiny.zip", garbage)
        files.files["/tiny.zip"] = (garbage, "ok")
    else:
        files.files["/tiny.zip"] = (tiny_zip if fault == "cut" else tiny_zip[::-1], fault)
    with pytest.raises(DataError, match=message) as error:
        fetch(entry, root)
    assert "\n" not in str(error.value) and "nothing was kept" in str(error.value)
    assert leftovers(root) == []
    files.files["/tiny.zip"] = (tiny_zip, "ok")
    fetch(entry_for(f"{base}/tiny.zip", tiny_zip), root)
    assert leftovers(root) == ["tiny"]
    assert len(load_beir(root / "tiny").queries) == 5


def test_a_failed_re_download_keeps_the_old_copy(server, tiny_zip, tmp_path):
    base, files = server
    root = tmp_path / "cache"
    files.files["/tiny.zip"] = (tiny_zip, "ok")
    fetch(entry_for(f"{base}/tiny.zip", tiny_zip), root)
    files.files["/tiny.zip"] = (tiny_zip, "cut")
    with pytest.raises(DataError):
        fetch(entry_for(f"{base}/tiny.zip", tiny_zip), root)
    assert leftovers(root) == ["tiny"] and len(load_beir(root / "tiny").queries) == 5


def test_offline_and_not_cached_says_what_to_download(data_home, monkeypatch):
    monkeypatch.setenv(named.MIRROR_ENV, "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(DataError) as error:
        resolve("beir:scifact")
    text = str(error.value)
    assert "\n" not in text
    assert "127.0.0.1:9/scifact.zip" in text and "md5 5f7d1de60b170fc8027bb7898e2efca1" in text
    assert "`embedscope datasets add scifact scifact.zip`" in text
    assert leftovers(data_home) == []
    with pytest.raises(DataError, match="not in the data cache .*`embedscope datasets add scifact scifact.zip`"):
        resolve("scifact", download=False)


def test_named_dataset_is_downloaded_once_through_the_cli(server, tiny_zip, data_home, monkeypatch):
    base, files = server
    files.files["/scifact.zip"] = (tiny_zip, "ok")
    monkeypatch.setattr(named, "catalog", lambda: {"scifact": entry_for(f"{base}/scifact.zip", tiny_zip, "scifact")})
    for _ in range(2):
        result = CliRunner().invoke(cli, ["run", "--data", "beir:scifact", "-m", "bm25", "-o", str(data_home.parent / "o"),
                                          "--cache", str(data_home.parent / "c"), "-q"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "bm25" in result.output
    assert files.hits == ["/scifact.zip"]  # the second run read the cache
    assert (data_home / "scifact" / "queries.jsonl").exists()


def test_register_folder_zip_and_any_name(synthetic_dir, tiny_zip, tmp_path, data_home):
    register("banking-like", synthetic_dir)
    assert resolve("banking-like") == data_home / "banking-like"
    assert (data_home / "banking-like").is_symlink()
    mine, original = load("banking-like"), load(synthetic_dir)
    assert mine.name == "banking-like" and (mine.corpus, mine.queries, mine.qrels) == (
        original.corpus, original.queries, original.qrels)
    (tmp_path / "tiny.zip").write_bytes(tiny_zip)
    register("tiny", tmp_path / "tiny.zip")
    assert not (data_home / "tiny").is_symlink() and len(load("tiny").queries) == 5
    register("copied", synthetic_dir, copy=True)
    assert not (data_home / "copied").is_symlink() and load("copied").summary()["documents"] == 160
    register("tiny", synthetic_dir)  # registering again replaces the entry
    assert load("tiny").summary()["documents"] == 160
    # beside the entries only the parsed-dataset records (.parsed), which `embedscope datasets` does not list
    assert sorted(p.name for p in data_home.iterdir()) == [".parsed", "banking-like", "copied", "tiny"]


def test_register_a_beir_zip_checks_its_md5(tmp_path, tiny_zip, data_home):
    (tmp_path / "scifact.zip").write_bytes(tiny_zip)
    with pytest.raises(DataError, match="does not match BEIR's 5f7d1de60b170fc8027bb7898e2efca1"):
        register("scifact", tmp_path / "scifact.zip")
    assert leftovers(data_home) == []


def test_moved_registration_and_bad_names(synthetic_dir, tmp_path, data_home):
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(synthetic_dir, moved)
    register("mine", moved)
    shutil.rmtree(moved)
    with pytest.raises(DataError, match="no longer exists; register it again"):
        resolve("mine")
    with pytest.raises(DataError, match="not a BEIR dataset; register a local copy"):
        resolve("nosuch")
    for bad in ("other:scifact", "../x", "a b"):
        with pytest.raises(DataError, match="not a dataset name"):
            named.split_name(bad)


def test_subfolders_and_names_versus_paths(synthetic_dir, tmp_path, data_home, monkeypatch):
    import shutil

    forums = tmp_path / "forums"
    shutil.copytree(synthetic_dir, forums / "android")
    register("cqa", forums)
    assert resolve("cqa/android") == data_home / "cqa" / "android"
    with pytest.raises(DataError, match="no folder 'gaming'"):
        resolve("cqa/gaming")
    monkeypatch.chdir(tmp_path)
    assert named.is_name("beir:scifact") and named.is_name("scifact") and named.is_name("cqa/android")
    assert not named.is_name("forums") and not named.is_name("./x") and not named.is_name(str(synthetic_dir))


def test_datasets_command_lists_adds_and_removes(synthetic_dir, data_home):
    runner = CliRunner()
    result = runner.invoke(cli, ["datasets", "add", "mine", str(synthetic_dir)])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(cli, ["datasets"]).output
    lines = listing.splitlines()
    assert lines[0] == f"data cache: {data_home}"
    assert lines[1].split()[:2] == ["mine", "registered"] and str(synthetic_dir) in lines[1]
    scifact = next(line for line in lines if line.startswith("beir:scifact"))
    assert "fetchable" in scifact and "2.8 MB" in scifact and "CC BY-NC 4.0" in scifact
    assert runner.invoke(cli, ["datasets", "remove", "mine"]).exit_code == 0
    assert leftovers(data_home) == [] and synthetic_dir.exists()


def test_catalog_is_complete_and_well_formed():
    catalog = named.catalog()
    assert {"scifact", "nfcorpus", "fiqa", "arguana", "scidocs", "trec-covid", "quora"} <= set(catalog)
    for name, entry in catalog.items():
        assert len(entry.md5) == 32 and int(entry.md5, 16) >= 0, name
        assert entry.bytes > 1_000_000 and entry.licence and entry.url.endswith(f"/{name}.zip")
        assert entry.url.startswith("https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/")
    assert len({e.md5 for e in catalog.values()}) == len(catalog)


def test_fresh_machine_main_job(synthetic_dir, data_home, tmp_path, monkeypatch):
    """No data cache and no internet: `embedscope run` says in one line how to get SciFact; once a copy is
    registered under that name, the same command prints the leaderboard of the default models."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "EMBEDSCOPE_DATASETS": str(data_home), named.MIRROR_ENV: "http://127.0.0.1:9"}
    env.pop("EMBEDSCOPE_TRACEBACK", None)
    work = tmp_path / "work"
    work.mkdir()
    embedscope = [sys.executable, "-m", "embedscope"]
    first = subprocess.run([*embedscope, "run"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 2 and first.stdout == ""
    assert first.stderr.count("\n") == 1 and "embedscope datasets add scifact scifact.zip" in first.stderr
    assert not (work / "embedscope-runs").exists()
    added = subprocess.run([*embedscope, "datasets", "add", "scifact", str(synthetic_dir)], cwd=work, env=env,
                           capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr
    second = subprocess.run([*embedscope, "run"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    for model in ("all-MiniLM-L6-v2", "wordllama", "bm25"):
        assert model in second.stdout
    assert "results in embedscope-runs" in second.stdout
    assert "DEBUG" not in second.stderr and "Loading weights" not in second.stderr, second.stderr


def test_a_named_dataset_is_parsed_once_until_its_files_change(synthetic, tmp_path, data_home, monkeypatch, caplog):
    """The second load of a registered dataset reuses the parse; an edited file, or a damaged record, parses
    again; the parse's warnings are logged on every load."""
    import importlib
    import json
    import logging

    load_module = importlib.import_module("embedscope.data.load")
    folder = write_beir_folder(synthetic, tmp_path / "mine")
    unscorable = "judged-not-relevant"  # judged with grade 0 only: a warning at every load
    with open(folder / "queries.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"_id": unscorable, "text": "a query nothing answers"}) + "\n")
    with open(folder / "qrels" / "test.tsv", "a", encoding="utf-8") as f:
        f.write(f"{unscorable}\t{next(iter(synthetic.corpus))}\t0\n")
    register("mine", folder)
    parses = []
    parse = load_module.load_beir
    monkeypatch.setattr(load_module, "load_beir", lambda *a, **k: parses.append(1) or parse(*a, **k))

    def load_logged():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="embedscope"):
            dataset = load("mine")
        assert any("with no relevant document" in r.getMessage() for r in caplog.records), caplog.text
        return dataset

    first = load_logged()
    assert load_logged() == first and len(parses) == 1  # reused, warning included
    assert load("mine", split="test", name="other").name == "other" and len(parses) == 2  # a name is its own record

    queries = folder / "queries.jsonl"
    queries.write_text(queries.read_text(encoding="utf-8").replace("a query nothing answers", "changed text"),
                       encoding="utf-8")
    assert load_logged().queries[unscorable] == "changed text" and len(parses) == 3

    for record in (data_home / ".parsed").glob("*.pickle"):
        record.write_bytes(b"not a pickle")
    assert load_logged() == load_beir(folder) and len(parses) == 4
