"""Everything a comparison writes into its run directory, and how a run directory comes to exist only whole.

A run directory is written in a hidden folder beside its final place (`.NAME.partial-HOST-PID-RANDOM`) and
renamed into place when every file is written and flushed (`staged`). A run that fails, fills the disk or is
interrupted leaves no run directory behind: the hidden folder is removed on the way out, and one left by a
killed process is removed by the next run writing to the same folder. results.json is written last and lists
every other file with its size and SHA-256 ("files"), so readers can check what they read (embedscope.rundir).

Each model's run file is named by its slug: the model name where that is already a safe file name, else the
name made safe plus a short hash of the full name, so two names that sanitise alike never share a file.

results.json is one `embedscope.results.Results` record: the comparison's models with their metrics and slugs,
the statistics of `embedscope.stats.analyse` ("confidence_intervals", "significance", "per_query"; absent
without qrels), and the list of files. Its layout is documented in docs/reference/results-schema.md.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from embedscope.errors import EmbedscopeError
from embedscope.references import reference_section
from embedscope.report.markdown import summary_markdown
from embedscope.results import SCHEMA_VERSION, FileEntry, Results, sha256_of
from embedscope.files import OutputError, write_file
from embedscope.servers import process_alive
from embedscope.stats import analyse

PARTIAL = re.compile(r"^\..+\.partial-(?P<host>[^-]+)-(?P<pid>\d+)-[0-9a-f]{8}$")
SLUG_LIMIT = 80  # characters of the name kept in a slug, leaving room for the hash and suffixes


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "model"


def slugs(names: list[str]) -> dict[str, str]:
    """A stable file-name slug per name, unique among `names` even on case-insensitive file systems. A name
    that is already a safe, short file name is its own slug; any other gets a hash of the full name."""
    base = {n: safe_name(n)[:SLUG_LIMIT] for n in names}
    folded: dict[str, int] = {}
    for n in names:
        folded[base[n].casefold()] = folded.get(base[n].casefold(), 0) + 1
    out = {}
    for n in names:
        plain = base[n] == n and folded[base[n].casefold()] == 1
        out[n] = base[n] if plain else f"{base[n]}-{hashlib.blake2b(n.encode(), digest_size=4).hexdigest()}"
    return out


def atomic_write(path: Path, text: str) -> None:
    """Write a file whole or not at all (embedscope.rundir.write_file: temp file, flush, rename), recorded in
    the list of files of the finished run directory it lies in."""
    write_file(path, text)


def new_run_dir(root: str | Path, dataset_name: str) -> Path:
    """The path a new run directory will take under `root`. The folder `root` is made and checked now, so an
    unwritable output folder fails in a second, not after an hour of embedding; the run directory itself
    appears only when complete (write it with `staged`)."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=root, prefix=".probe-"))  # can a folder be made here?
    except OSError as e:
        raise OutputError(f"cannot create output directory {root}: {e.strerror or e}") from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{stamp}-{safe_name(dataset_name)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class staged:
    """`with staged(target) as out:` write into `out.folder`; when the block ends without error the folder is
    flushed and renamed to `target` (or `target-2`, ... if that name was taken meanwhile), given as `out.path`.
    On any error, a full disk included, the folder is removed and OSErrors become one OutputError naming the
    file. `target` may exist as an empty folder; it is then replaced."""

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self.path: Path | None = None
        self.folder = self.target.parent / f".{self.target.name}.partial-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> "staged":
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            remove_abandoned(self.target.parent)
            self.folder.mkdir()
        except OSError as e:
            raise OutputError(f"cannot create output directory {self.target.parent}: {e.strerror or e}") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self.path = _publish(self.folder, self.target)
                return False
            except OSError as e:
                exc = e
        shutil.rmtree(self.folder, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, EmbedscopeError):
            where = getattr(exc, "filename", None)
            where = self.target / Path(where).relative_to(self.folder) if where and _inside(where, self.folder) \
                else self.target
            raise OutputError(f"cannot write {where}: {exc.strerror or exc}; "
                              f"the incomplete run directory was removed") from None
        return False


@contextlib.contextmanager
def naming(path: Path):
    """An OSError from writing `path` carries its name (a failed write() alone says only what went wrong)."""
    try:
        yield
    except OSError as e:
        if e.filename is None and not isinstance(e, EmbedscopeError):
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", socket.gethostname())[:32] or "host"


def _inside(path, folder: Path) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


def remove_abandoned(root: Path) -> None:
    """Remove hidden partial run directories that a killed process on this machine left in `root`."""
    for entry in root.glob(".*.partial-*"):
        match = PARTIAL.match(entry.name)
        if match and match["host"] == _host() and not process_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)


def _publish(folder: Path, target: Path) -> Path:
    for path in folder.rglob("*"):  # on disk before the rename makes them visible
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    candidate, n = target, 1
    while True:
        try:
            os.rename(folder, candidate)  # replaces an empty folder; never a folder with files
            break
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
            n += 1
            candidate = target.with_name(f"{target.name}-{n}")
    fd = os.open(candidate.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return candidate


def file_entry(path: Path) -> FileEntry:
    return FileEntry(bytes=path.stat().st_size, sha256=sha256_of(path))


def manifest(folder: Path) -> dict[str, FileEntry]:
    """Size and SHA-256 of every file under `folder`, by path relative to it (forward slashes)."""
    return {p.relative_to(folder).as_posix(): file_entry(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def results_record(comparison, analysis: dict | None = None) -> Results:
    """The comparison as the one results.json record (validated here, so a writer cannot drift from it). Each
    model's run file is named by its slug; a model that failed has none."""
    slug = slugs([r.name for r in comparison.results])
    models = [{"name": r.name, "slug": slug[r.name], "spec": r.spec, "status": r.status, "reason": r.reason,
               "info": r.info, "run": r.run.meta, "metrics": r.evaluation.mean if r.evaluation else None,
               "run_file": f"runs/{slug[r.name]}.trec" if r.ok else None}
              for r in comparison.results]
    data = {"schema_version": SCHEMA_VERSION, "dataset": comparison.dataset.summary(), "metrics": comparison.metrics,
            "settings": comparison.settings, "models": models, **(analysis or {})}
    return Results.from_dict(_plain(data))


def _plain(value):
    """JSON values only: numpy scalars and arrays, paths and other objects become numbers, lists or text."""
    return json.loads(json.dumps(value, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def per_query_rows(comparison):
    for r in comparison.results:
        if not r.evaluation:
            continue
        for qid in r.evaluation.query_ids:
            yield {"model": r.name, "query_id": qid, **{m: r.evaluation.per_query[m][qid] for m in comparison.metrics}}


def write_outputs(comparison, run_dir: Path, extra: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the run directory `run_dir` whole or not at all (see `staged`); `extra` adds text files
    ({relative path: text}) to it. Returns the paths written; the directory may have taken the name
    `run_dir-2` if `run_dir` appeared meanwhile."""
    # Kept on the comparison so the console shows the same numbers without computing them again.
    analysis = comparison.analysis = analyse(comparison)
    references = reference_section(comparison, comparison.settings.get("reference_paths") or (),
                                   comparison.settings.get("reference_task"), significance=analysis.get("significance"))
    if references:
        analysis["references"] = references
    results = results_record(comparison, analysis)
    with staged(run_dir) as out:
        folder = out.folder
        (folder / "runs").mkdir()
        with naming(folder / "per_query.csv"), open(folder / "per_query.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["model", "query_id", *comparison.metrics])
            writer.writeheader()
            writer.writerows(per_query_rows(comparison))
        for r, m in zip(comparison.results, results.models):
            if not m.run_file:
                continue
            with naming(folder / m.run_file):
                r.run.to_trec(folder / m.run_file, tag=m.slug)
        texts = {"summary.md": summary_markdown(comparison, analysis), **(extra or {})}
        for name, text in texts.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            with naming(folder / name):
                (folder / name).write_text(text, encoding="utf-8")
        results.files = manifest(folder)  # results.json comes last: its presence means the rest is complete
        with naming(folder / "results.json"):
            (folder / "results.json").write_text(results.to_json(), encoding="utf-8")
    paths = {"results": out.path / "results.json", "per_query": out.path / "per_query.csv",
             "summary": out.path / "summary.md", "run_dir": out.path}
    return paths
