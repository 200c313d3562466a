"""The one spec grammar: how models, pipelines, indexes and vector databases are named on the command line and in
config files, and the one way to write a range of whole numbers.

    SPEC    = KIND [":" TARGET] ["?" OPTION "=" VALUE ("&" OPTION "=" VALUE)*]
    TARGET  = a path, model name or URL; a FAISS factory string (HNSW32, IVF256,PQ16); an index type (hnsw,
              ivfflat); or stages: SPEC "+" SPEC ... (hybrid) and SPEC ">" SPEC (rerank)
    RANGE   = START ".." END (whole numbers, both ends included), e.g. 2..20; a LIST is N,N,..., e.g. 4,8,16

A spec that does not fit names the part at fault and shows this grammar (`SpecError`, one line on the command
line). Spellings of earlier releases (`faiss:HNSW32,efSearch=64`, `milvus:HOST:PORT[:INDEX]`, ranges `2-200`) are
read for one more release, with a deprecation warning.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from embedscope.errors import ConfigError

GRAMMAR = ("KIND[:TARGET][?OPTION=VALUE&OPTION=VALUE...]; stages A+B (hybrid) or A>B (rerank); ranges START..END, "
           "lists N,N,...")
log = logging.getLogger("embedscope.specs")
_KIND = re.compile(r"[a-z][a-z0-9_.-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_warned: set[str] = set()


class SpecError(ConfigError):
    """A spec or range that does not fit the grammar: the message names the offending part and shows the grammar."""

    def __init__(self, spec: str, part: str, problem: str, what: str = "spec"):
        self.spec, self.part = spec, part
        super().__init__(f"{what} '{spec}': {problem} (at '{part}'); the grammar is {GRAMMAR}")


@dataclass(frozen=True)
class Spec:
    """A parsed spec: `kind:target?key=value&...`."""

    kind: str
    target: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = self.kind + (f":{self.target}" if self.target else "")
        return text + ("?" + "&".join(f"{k}={v}" for k, v in self.options.items()) if self.options else "")


def deprecated(old: str, new: str) -> None:
    """One warning per old spelling and process."""
    if old in _warned:
        return
    _warned.add(old)
    log.warning(f"warning: '{old}' is an old spelling, read for one more release; write '{new}'")


def parse(spec: str, what: str = "spec") -> Spec:
    """'kind:target?key=value&key=value' -> Spec, or a SpecError naming the part that does not fit."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(str(spec), str(spec), "is empty", what)
    text = spec.strip()
    head, question, query = text.partition("?")
    kind, _, target = head.partition(":")
    if not _KIND.fullmatch(kind.strip().lower()):
        raise SpecError(text, kind, "a kind is a name such as minilm, st, openai, hybrid, faiss, qdrant", what)
    options: dict[str, str] = {}
    if question:
        if not query:
            raise SpecError(text, "?", "'?' must be followed by OPTION=VALUE options", what)
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if not eq or not _KEY.fullmatch(key):
                raise SpecError(text, item, "options are OPTION=VALUE, joined by '&'", what)
        options = dict(parse_qsl(query, keep_blank_values=True))
    return Spec(kind.strip().lower(), target or None, options)


# Index kinds whose target is an address in the old spelling KIND:HOST:PORT[:INDEX].
_SERVER_KINDS = ("milvus", "redis")
# Index kinds whose target is a FAISS factory string: its commas belong to FAISS; options follow '?'.
_FACTORY_KINDS = ("faiss", "streaming")


def index_spec(spec: str) -> Spec:
    """An index or vector-database spec in the one grammar: `exact`, `faiss:HNSW32?efSearch=64`,
    `streaming:IVF1024,SQ8?nprobe=64`, `qdrant:flat`, `milvus:HNSW?host=127.0.0.1&port=19530`. The older
    `faiss:HNSW32,efSearch=64` and `milvus:HOST:PORT[:INDEX]` are read too, with a deprecation warning."""
    parsed = parse(spec, "index spec")
    target, options = parsed.target, dict(parsed.options)
    if parsed.kind in _FACTORY_KINDS and target and "=" in target:
        tokens = [t.strip() for t in target.split(",") if t.strip()]
        factory = [t for t in tokens if "=" not in t]
        moved = dict(t.split("=", 1) for t in tokens if "=" in t)
        new = Spec(parsed.kind, ",".join(factory) or None, {**moved, **options})
        deprecated(spec, str(new))
        target, options = new.target, new.options
    elif parsed.kind in _SERVER_KINDS and target and ":" in target:
        host, _, rest = target.partition(":")
        port, _, index = rest.partition(":")
        if not port.isdigit():
            raise SpecError(spec, target, f"{parsed.kind} takes its address as options, e.g. "
                                          f"{parsed.kind}:hnsw?host=127.0.0.1&port=19530", "index spec")
        new = Spec(parsed.kind, index or None, {"host": host, "port": port, **options})
        deprecated(spec, str(new))
        target, options = new.target, new.options
    return Spec(parsed.kind, target, options)


def stages(spec: str, target: str | None, separator: str, example: str) -> list[str]:
    """The stage specs of a hybrid ('+') or rerank ('>') target, each at least a kind."""
    parts = [p.strip() for p in (target or "").split(separator)]
    for part in parts:
        if not part:
            raise SpecError(spec, target or spec, f"stages are specs joined by '{separator}', e.g. {example}")
    if len(parts) < 2:
        raise SpecError(spec, target or spec, f"needs at least two stages joined by '{separator}', e.g. {example}")
    return parts


def parse_range(text: str, option: str = "range") -> tuple[int, int]:
    """'2..200' -> (2, 200), both ends included. The old '2-200' is read too, with a warning."""
    value = str(text).strip()
    low, sep, high = value.partition("..")
    if not sep:
        low, sep, high = value.partition("-")
        if sep and low.strip().isdigit() and high.strip().isdigit():
            deprecated(f"{option} {value}", f"{option} {low.strip()}..{high.strip()}")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise SpecError(value, value, "a range is START..END in whole numbers, e.g. 2..20", option)
    start, end = int(low), int(high)
    if start > end:
        raise SpecError(value, value, f"the range starts after it ends ({start} > {end})", option)
    return start, end


def parse_counts(text: str, option: str = "count") -> list[int]:
    """'8' -> [8]; '2..12' -> [2, ..., 12]; '4,8,16' -> [4, 8, 16]."""
    value = str(text).strip()
    if ".." in value or re.fullmatch(r"\d+\s*-\s*\d+", value):
        start, end = parse_range(value, option)
        return list(range(start, end + 1))
    items = [v.strip() for v in value.split(",")]
    bad = next((v for v in items if not v.isdigit()), None)
    if bad is not None:
        raise SpecError(value, bad or value, "expected a number, a range START..END or a list N,N,...", option)
    return [int(v) for v in items]
