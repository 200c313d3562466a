"""Pre-flight: before any work, every model of a comparison is built and checked, and every problem is reported
at once, so an hour of embedding is not lost to a missing key on the last model.

A model is built from its spec (an unknown kind, a missing folder, a bad option fail here), then everything in it
that talks to a server is asked `preflight()`: hosted and served embedders send one short text (key present,
endpoint reachable, model name known, dimensions as the card or options say), rerankers and chat models one tiny
request. Pipelines are checked through their stages.

A part that needs nothing from its server for this work (an embedder whose every document and query vector is in
the cache already) is not asked: a cached re-run of an API model works offline. The LLM that `pool` and
`generate-queries` talk to is checked the same way (`check_llm`) before the first judgment or query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from embedscope.errors import EmbedscopeError

log = logging.getLogger(__name__)


def one_line(text: object, limit: int) -> str:
    from embedscope.remote import one_line as redacted  # httpx and tenacity: imported only when a problem is told

    return redacted(text, limit)


class PreflightError(EmbedscopeError):
    """Models that cannot run. `lines` holds one line per problem (the command line prints each as an error
    line); the message itself is one line too, the problems joined by "; "."""

    def __init__(self, problems: list[str], total: int):
        self.problems = problems
        head = f"{len(problems)} of {total} models cannot run" if total > 1 else "the model cannot run"
        self.lines = [*problems, f"pre-flight check: {head}; nothing was run"] if total > 1 else list(problems)
        super().__init__(f"{head}: " + "; ".join(problems) if total > 1 else problems[0])


def remote_parts(model, depth: int = 4) -> Iterator[object]:
    """Everything in `model` (itself, its stages, their embedders and rerankers) that has a preflight()."""
    seen: set[int] = set()

    def walk(obj, level: int):
        if id(obj) in seen or level > depth or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            return
        seen.add(id(obj))
        if callable(getattr(obj, "preflight", None)) and not isinstance(obj, type):
            yield obj
            return
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, (list, tuple)):
            children = list(obj)
        else:
            children = list(getattr(obj, "__dict__", {}).values())
        for child in children:  # containers and embedscope's own objects; never into a library's internals
            if isinstance(child, (dict, list, tuple)) or type(child).__module__.startswith("embedscope."):
                yield from walk(child, level + 1)

    yield from walk(model, 0)


def check(model, ready=None) -> list[str]:
    """Problems of one built model, one line each; [] when it is ready. `ready(part)` may say why a part needs
    no check (a reason, e.g. "all 1,200 vectors are cached": shown with -v); None means check it."""
    problems: list[str] = []
    for part in remote_parts(model):
        reason = ready(part) if ready is not None else None
        if reason:
            log.debug(f"[{getattr(part, 'name', model.name)}] pre-flight check skipped: {reason}")
            continue
        try:
            problems.extend(part.preflight())
        except EmbedscopeError as e:
            problems.append(str(e))
    return problems


def load_checked(specs: list, ready=None) -> list:
    """Every model built and checked; a PreflightError listing all problems when any cannot run. `ready` as in
    `check`."""
    from embedscope.models import load_model

    models, problems = [], []
    for spec in specs:
        try:
            model = load_model(spec)
        except (EmbedscopeError, ValueError, OSError) as e:  # a library's message may span lines: one line here
            label = spec if isinstance(spec, str) else spec.get("name", spec)
            problems.append(one_line(f"{label}: {e}", 600))
            continue
        models.append(model)
        problems.extend(one_line(p if model.name in p else f"{model.name}: {p}", 900)
                        for p in check(model, ready))
    if problems:
        raise PreflightError(problems, len(specs))
    return models


def check_llm(client, role: str):
    """The chat model behind an LLM judge or query generator, checked with one tiny request before any work;
    a PreflightError (one line, exit code 2) when it cannot answer. Returns the client."""
    problems = [one_line(f"{role}: {p}", 900) for p in client.preflight()]
    if problems:
        raise PreflightError(problems, 1)
    return client
