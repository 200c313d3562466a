"""Check a whole cache: every shard against its checksum, model and role, every vector for finite values, one
dimension per model and role. Read-only: a run sets a corrupt shard aside by itself when it meets one."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.cache.shard import NAME, CorruptShard, decode_shard
from embedscope.cache.store import ROLES


@dataclass
class Problem:
    path: Path
    what: str


@dataclass
class CacheReport:
    root: Path
    models: int = 0
    shards: int = 0
    vectors: int = 0
    unchecked: int = 0  # shards written before checksums: only their values could be checked
    set_aside: int = 0  # shards an earlier run already found corrupt (*.corrupt)
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        line = (f"{self.root}: {self.models:,} model(s), {self.shards:,} shard(s), {self.vectors:,} vectors; "
                f"{len(self.problems):,} problem(s)")
        if self.unchecked:
            line += f"; {self.unchecked:,} shard(s) written before checksums (values checked only)"
        if self.set_aside:
            line += f"; {self.set_aside:,} shard(s) set aside earlier as *.corrupt (safe to delete)"
        return line


def verify_cache(root: str | Path, on_shard: Callable[[int], None] | None = None) -> CacheReport:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such cache directory")
    report = CacheReport(root)
    for model in sorted(p for p in root.iterdir() if p.is_dir()):
        roles = [model / r for r in ROLES if (model / r).is_dir()]
        if not roles:
            continue
        report.models += 1
        meta = model / "model.json"
        if meta.exists():
            try:
                json.loads(meta.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                report.problems.append(Problem(meta, "not valid JSON (the model's name for listings only)"))
        for folder in roles:
            _verify_folder(folder, model.name, report, on_shard)
    return report


def _verify_folder(folder: Path, fingerprint: str, report: CacheReport, on_shard) -> None:
    dim = None
    for path in sorted(folder.iterdir()):
        name = path.name
        if name == ".lock":
            continue
        if name.endswith(".corrupt"):
            report.set_aside += 1
            continue
        if name.startswith(".") and name.endswith(".tmp"):
            report.problems.append(Problem(path, "a shard left half-written by a killed writer (ignored by runs; "
                                                 "safe to delete when no run is writing)"))
            continue
        if not NAME.match(name):
            report.problems.append(Problem(path, "not a cache file"))
            continue
        report.shards += 1
        try:
            shard = decode_shard(path, fingerprint, folder.name)
            if dim is not None and shard.dim != dim:
                raise CorruptShard(f"{shard.dim}-dimensional vectors where the other shards have {dim}")
        except CorruptShard as e:
            report.problems.append(Problem(path, f"corrupt: {e}; a run will set it aside and embed its texts again"))
        except OSError as e:
            report.problems.append(Problem(path, f"cannot be read: {e.strerror or e}"))
        else:
            dim = shard.dim
            report.vectors += len(shard.keys)
            report.unchecked += not shard.checked
        if on_shard:
            on_shard(1)
