"""Datasets by name: `beir:scifact` is downloaded once into the data cache, checksummed and unpacked; any other name
(`banking77`, `my-corpus`) is a local copy registered with `embedscope datasets add NAME PATH`.

The data cache is a folder (EMBEDSCOPE_DATASETS, else $XDG_CACHE_HOME/embedscope/datasets, else
~/.cache/embedscope/datasets) holding one entry per name: a folder (downloaded or unpacked from a zip) or a symbolic
link to a registered folder. Every entry appears there whole or not at all (written aside, then renamed).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from embedscope.data.errors import DataError

ENV = "EMBEDSCOPE_DATASETS"
MIRROR_ENV = "EMBEDSCOPE_BEIR_URL"  # a mirror of BEIR's download folder, e.g. inside a company network
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class CatalogEntry:
    """A dataset that can be fetched: where from, what it must hash to, and on what terms it may be used."""

    name: str
    url: str
    md5: str
    bytes: int
    docs: int
    queries: int
    licence: str
    note: str = ""

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def catalog() -> dict[str, CatalogEntry]:
    """The public BEIR datasets, by name."""
    base = os.environ.get(MIRROR_ENV, BEIR_URL).rstrip("/")
    text = resources.files("embedscope.data").joinpath("beir_catalog.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader((line for line in text.splitlines() if not line.startswith("#")), delimiter="\t")
    return {r["name"]: CatalogEntry(r["name"], f"{base}/{r['name']}.zip", r["md5"], int(r["bytes"]), int(r["docs"]),
                                    int(r["queries"]), r["licence"], r["note"]) for r in rows}


def home(override: str | Path | None = None) -> Path:
    """The data cache folder (not created here)."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "embedscope" / "datasets"


def split_name(name: str) -> tuple[str, str, str]:
    """'beir:cqadupstack/android' -> ('beir', 'cqadupstack', 'android'). A name without a source has source ''."""
    source, sep, rest = name.partition(":")
    if not sep:
        source, rest = "", name
    key, _, sub = rest.partition("/")
    if source not in ("", "beir") or not _NAME.fullmatch(key) or ".." in sub.split("/"):
        raise DataError(name, "not a dataset name; names look like beir:scifact or my-corpus "
                              "(letters, digits, '.', '_', '-'), optionally /SUBFOLDER")
    return source, key, sub


def is_name(text: str) -> bool:
    """Whether --data TEXT names a dataset rather than a path: `beir:...`, or a bare name that is not a local path."""
    if text.startswith("beir:"):
        return True
    if Path(text).exists() or Path(text).is_symlink() or text.startswith((".", "/", "~")):
        return False
    try:
        split_name(text)
    except DataError:
        return False
    return True


def entry_path(key: str, root: Path | None = None) -> Path:
    return (root or home()) / key


def resolve(name: str, *, download: bool = True, root: str | Path | None = None, say=None) -> Path:
    """The folder that holds dataset NAME: the cached or registered copy, else (for a BEIR name, when `download`)
    fetched now. Raises DataError with the way to get it otherwise."""
    source, key, sub = split_name(name)
    root = home(root)
    path = entry_path(key, root)
    if path.is_symlink() and not path.exists():
        raise DataError(name, f"registered as {os.readlink(path)}, which no longer exists; register it again with "
                              f"`embedscope datasets add {key} PATH`")
    if not path.exists():
        entry = catalog().get(key)
        if entry is None:
            known = ", ".join(sorted(catalog()))
            raise DataError(name, f"not in the data cache ({root}) and not a BEIR dataset; register a local copy with "
                                  f"`embedscope datasets add {key} PATH` (BEIR names: {known})")
        if not download:
            raise DataError(name, f"not in the data cache ({root}); {how_to_get(entry)}")
        from embedscope.data.download import fetch

        fetch(entry, root, say=say)
    folder = path / sub if sub else path
    if not folder.is_dir():
        raise DataError(name, f"no folder '{sub}' in {path}")
    return folder


def how_to_get(entry: CatalogEntry) -> str:
    return (f"download {entry.url} ({human_bytes(entry.bytes)}, md5 {entry.md5}) and run "
            f"`embedscope datasets add {entry.name} {entry.file_name}`")


def register(name: str, source: str | Path, *, root: str | Path | None = None, copy: bool = False) -> Path:
    """Make NAME resolve to a local copy: a folder (linked, or copied with `copy`) or a zip (checked against the
    catalog's md5 when the name is a BEIR one, then unpacked into the cache). Replaces an earlier entry."""
    _, key, sub = split_name(name)
    if sub:
        raise DataError(name, "register the whole dataset folder, without /SUBFOLDER")
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(source, "not found (give a dataset folder or a .zip)")
    root = home(root)
    root.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        from embedscope.data.download import md5_of, unpack

        entry = catalog().get(key)
        if not source.name.endswith(".zip"):
            raise DataError(source, "not a folder or a .zip")
        if entry is not None:
            digest = md5_of(source)
            if digest != entry.md5:
                raise DataError(source, f"md5 {digest} does not match BEIR's {entry.md5} for {key}; "
                                        f"download {entry.url} again")
        unpack(source, root, key)
        return entry_path(key, root)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        if copy:
            shutil.copytree(source, staging / "entry", symlinks=False)
        else:
            (staging / "entry").symlink_to(source.resolve(), target_is_directory=True)
        replace_entry(staging / "entry", entry_path(key, root))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry_path(key, root)


def replace_entry(new: Path, target: Path) -> None:
    """Put `new` at `target` in one rename; an earlier entry is moved aside first and removed after."""
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        if old.is_symlink() or old.is_file():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)


def remove(name: str, root: str | Path | None = None) -> Path:
    _, key, _ = split_name(name)
    path = entry_path(key, home(root))
    if not (path.exists() or path.is_symlink()):
        raise DataError(name, f"not in the data cache ({home(root)})")
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path)
    return path


@dataclass
class Listed:
    name: str
    state: str  # "cached", "registered", "fetchable"
    path: Path | None
    bytes: int | None
    licence: str
    note: str


def listing(root: str | Path | None = None) -> list[Listed]:
    """What is in the data cache (downloaded or registered) and what else can be fetched, cached first."""
    root = home(root)
    known = catalog()
    rows: list[Listed] = []
    present = sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
    for path in present:
        entry = known.get(path.name)
        state = "registered" if path.is_symlink() else "cached"
        size = folder_bytes(path) if path.exists() else None
        target = Path(os.readlink(path)) if path.is_symlink() else path
        rows.append(Listed(path.name, state, target, size, entry.licence if entry else "", "" if path.exists()
                           else "missing: register again"))
    for name, entry in known.items():
        if not any(r.name == name for r in rows):
            rows.append(Listed(f"beir:{name}", "fetchable", None, entry.bytes, entry.licence, entry.note))
    return rows


def folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path, followlinks=False):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
