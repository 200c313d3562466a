"""Download a dataset zip once, check its md5, unpack it atomically into the data cache.

Nothing half-written is ever left under its final name: the download goes to a `.part` file and the unpacking to a
hidden folder beside the final one, both removed on any failure, so a retry starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from embedscope import progress
from embedscope.data.errors import DataError
from embedscope.data.named import CatalogEntry, entry_path, how_to_get, human_bytes, replace_entry

logger = logging.getLogger(__name__)
CHUNK = 1 << 20
TIMEOUT_S = 30


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(entry: CatalogEntry, root: Path, say=None) -> Path:
    """Download, verify and unpack `entry` into root/<name>; returns that folder."""
    root.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".zip.part", dir=root)[1])
    try:
        _download(entry, part, say or logger.info)
        digest = md5_of(part)
        if digest != entry.md5:
            raise DataError(entry.url, f"checksum mismatch: md5 {digest}, expected {entry.md5}; nothing was kept, "
                                       f"try again (or {how_to_get(entry)})")
        return unpack(part, root, entry.name, source=entry.url)
    finally:
        part.unlink(missing_ok=True)


def _download(entry: CatalogEntry, part: Path, say) -> None:
    received, expected = 0, None
    try:
        with urllib.request.urlopen(entry.url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            say(f"downloading {entry.url} ({human_bytes(entry.bytes)})")  # once connected: offline, one line only
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with progress.task(f"download {entry.name}", expected or entry.bytes) as advance:
                while block := response.read(CHUNK):
                    try:
                        out.write(block)
                    except OSError as e:  # the disk, not the network
                        raise DataError(part.parent, f"cannot write the download ({e.strerror or e})") from None
                    received += len(block)
                    advance(len(block))
    except http.client.IncompleteRead as e:
        received += len(e.partial)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(f"beir:{entry.name}", f"not in the data cache and cannot be downloaded ({reason}); "
                                              f"{how_to_get(entry)}") from None
    if expected is not None and received != expected:
        raise DataError(entry.url, f"download cut short after {received:,} of {expected:,} bytes; nothing was kept, "
                                   "try again")


def unpack(zip_path: Path, root: Path, name: str, source: str | None = None) -> Path:
    """Unpack a dataset zip into root/name. The zip holds the dataset's files at its top or in one top folder
    (BEIR's zips hold `scifact/...`)."""
    source = source or str(zip_path)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        try:
            with zipfile.ZipFile(zip_path) as z:
                bad = z.testzip()
                if bad is not None:
                    raise DataError(source, f"corrupt zip: member {bad} fails its CRC check")
                for member in z.namelist():
                    # Only relative paths inside the dataset: no absolute paths, no climbing out with '..'.
                    parts = Path(member).parts
                    if Path(member).is_absolute() or ".." in parts:
                        raise DataError(source, f"unsafe path in zip: {member}")
                z.extractall(staging / "unpacked")
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as e:
            raise DataError(source, f"not a readable zip ({e}); nothing was kept") from None
        top = [p for p in (staging / "unpacked").iterdir() if p.name != "__MACOSX"]
        folder = top[0] if len(top) == 1 and top[0].is_dir() else staging / "unpacked"
        replace_entry(folder, entry_path(name, root))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry_path(name, root)
