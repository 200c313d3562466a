"""What every pipeline shares: its stages' specs, and the retrieval context its stages run in."""

from __future__ import annotations

from embedscope.runs.context import RetrievalContext

CONTEXT_OPTIONS = ("cache", "index", "similarity", "metric")  # metric: the old name of similarity


def context_from(options: dict) -> RetrievalContext | None:
    """Spec or YAML options that set a pipeline's own default context (cache=, index=, similarity=), taken
    out of `options`. `embedscope run` gives every retriever the run's context, which is used instead."""
    given = {key: options.pop(key) for key in CONTEXT_OPTIONS if key in options}
    if not given:
        return None
    return RetrievalContext.of(given.pop("cache", None), **given)


def load_stage(spec_or_model):
    """A stage's model, built now from its spec so that a bad spec fails before any work."""
    from embedscope.models import load_model

    return load_model(spec_or_model) if isinstance(spec_or_model, (str, dict)) else spec_or_model


def split_stages(target: str | None, separator: str, kind: str, example: str) -> list[str]:
    """The stage specs of `kind:target` joined by `separator` (embedscope.specs: the one spec grammar)."""
    from embedscope.specs import stages

    spec = f"{kind}:{target}" if target and not kind.startswith("-") else (target or kind)
    return stages(spec, target, separator, example)


def parse_floats(value, option: str) -> list[float]:
    """'0.3,0.7' (spec string) or [0.3, 0.7] (YAML) -> [0.3, 0.7]."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        return [float(v) for v in items]
    except ValueError:
        raise ValueError(f"option '{option}' needs numbers separated by commas, got '{value}'") from None
