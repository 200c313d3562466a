"""What embedding N texts costs: through an API (price per 1M tokens) or self-hosted (hourly machine price).

API:          texts x average tokens per text x price / 1M
Self-hosted:  max(min billed hours, texts / throughput / 3600) x hourly price
Break-even:   self-hosting costs a fixed minimum (hourly price x min billed hours) and then less per text than
              the API when hourly price / (3600 x throughput) < API cost per text; it wins from
              N* = hourly price x min billed hours / API cost per text onwards (never, if its per-text cost is higher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import yaml

SCALES = (10_000, 100_000, 1_000_000, 2_500_000)


def load_prices(path: str | Path | None = None) -> dict:
    """The price table: the bundled prices.yaml, or the user's own file in the same layout."""
    if path is None:
        text, where = resources.files("embedscope.perf").joinpath("prices.yaml").read_text(), "prices.yaml (bundled)"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise OSError(f"{path}: cannot read price table: {e.strerror or e}") from None
    try:
        prices = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml when built
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not valid YAML: {e}") from None
    for section, needed in (("api", "usd_per_1m_tokens"), ("gpus", "usd_per_hour")):
        for i, row in enumerate(prices.get(section) or []):
            missing = [key for key in ("name", needed, "as_of") if row.get(key) in (None, "")]
            if missing:
                raise ValueError(f"{where}: {section} row {i + 1} ({row.get('name', '?')}) lacks {', '.join(missing)}")
            row["as_of"] = str(row["as_of"]) if not isinstance(row["as_of"], date) else row["as_of"].isoformat()
    if prices.get("cpu") and "as_of" in prices["cpu"]:
        prices["cpu"]["as_of"] = str(prices["cpu"]["as_of"])
    prices.setdefault("min_billed_hours", 1.0)
    return prices


def token_cost(tokens: float, usd_per_1m_tokens: float) -> float:
    """USD for `tokens` input tokens at a per-million price: the one API cost formula (cards and tables use it)."""
    return tokens * usd_per_1m_tokens / 1e6


def api_cost(texts: int, tokens_per_text: float, usd_per_1m_tokens: float) -> float:
    return token_cost(texts * tokens_per_text, usd_per_1m_tokens)


def self_hosted_cost(texts: int, texts_per_second: float, usd_per_hour: float, min_billed_hours: float) -> tuple[float, float]:
    """(USD, hours of work) for embedding `texts` on one machine billed by the hour."""
    hours = texts / texts_per_second / 3600
    return max(min_billed_hours, hours) * usd_per_hour, hours


def break_even(api_usd_per_text: float, texts_per_second: float, usd_per_hour: float, min_billed_hours: float) -> int | None:
    """Texts from which self-hosting is cheaper than the API, or None when it never is."""
    self_per_text = usd_per_hour / (3600 * texts_per_second)
    if api_usd_per_text <= 0 or self_per_text >= api_usd_per_text:
        return None
    return math.ceil(usd_per_hour * min_billed_hours / api_usd_per_text)


@dataclass
class Option:
    """One way to embed: an API, or a local model on some hardware."""

    name: str
    kind: str                      # "api" | "self-hosted"
    hardware: str | None
    texts_per_second: float | None = None
    usd_per_hour: float | None = None
    usd_per_text: float | None = None  # APIs
    tokens_per_text: float | None = None
    token_counter: str | None = None
    throughput_source: str | None = None
    as_of: str | None = None

    def cost(self, texts: int, min_billed_hours: float) -> dict:
        if self.kind == "api":
            return {"usd": texts * self.usd_per_text, "hours": None}
        usd, hours = self_hosted_cost(texts, self.texts_per_second, self.usd_per_hour, min_billed_hours)
        return {"usd": usd, "hours": hours}


def api_options(prices: dict, corpus_texts: list[str], model_token_counts: dict[str, float] | None = None) -> list[Option]:
    """API rows priced with tokens counted on the user's texts: tiktoken where the row names its encoding."""
    from embedscope.perf.tokens import tiktoken_counter

    counted: dict[str, float] = {}
    options = []
    for row in prices.get("api") or []:
        encoding = row.get("tokenizer") or "cl100k_base"
        note = f"tiktoken {encoding}" + ("" if row.get("tokenizer") else " (approximation: provider tokenizer not available)")
        if encoding not in counted:
            counts = tiktoken_counter(encoding)(corpus_texts) if corpus_texts else [0]
            counted[encoding] = sum(counts) / max(len(counts), 1)
        per_text = counted[encoding]
        options.append(Option(row["name"], "api", None, usd_per_text=token_cost(per_text, row["usd_per_1m_tokens"]),
                              tokens_per_text=per_text, token_counter=note, as_of=row["as_of"]))
    return options


def self_hosted_options(prices: dict, model: str, *, measured_texts_per_second: float | None, tokens_per_text: float | None,
                        parameters: int | None, token_counter: str | None = None, static: bool = False) -> list[Option]:
    """A local model on this machine's CPU (measured) and on each GPU in the table (declared, scaled by size)."""
    options = []
    cpu = prices.get("cpu")
    if cpu and measured_texts_per_second:
        options.append(Option(model, "self-hosted", f"CPU: {cpu['name']}", texts_per_second=measured_texts_per_second,
                              usd_per_hour=cpu["usd_per_hour"], tokens_per_text=tokens_per_text, token_counter=token_counter,
                              throughput_source="measured on this machine", as_of=cpu.get("as_of")))
    if static or not parameters or not tokens_per_text:
        return options  # a lookup-table model gains nothing from a GPU; unknown size: no honest scaling
    for gpu in prices.get("gpus") or []:
        declared = gpu.get("tokens_per_second_100m_params")
        if not declared:
            continue
        tokens_per_second = declared * 1e8 / parameters
        options.append(Option(model, "self-hosted", f"GPU: {gpu['name']}", texts_per_second=tokens_per_second / tokens_per_text,
                              usd_per_hour=gpu["usd_per_hour"], tokens_per_text=tokens_per_text, token_counter=token_counter,
                              throughput_source=f"declared {declared:,} tokens/s at 100M params, scaled to {parameters / 1e6:.0f}M",
                              as_of=gpu["as_of"]))
    return options


def cost_table(options: list[Option], scales: list[int], min_billed_hours: float,
               reference_api: str | None = None) -> list[dict]:
    """One row per option: cost at each scale; self-hosted rows add the break-even against the reference API."""
    apis = {o.name: o for o in options if o.kind == "api"}
    reference = apis.get(reference_api) if reference_api else None
    if reference is None and apis:
        reference = min(apis.values(), key=lambda o: o.usd_per_text)
    rows = []
    for o in options:
        row = {"name": o.name, "kind": o.kind, "hardware": o.hardware, "tokens_per_text": o.tokens_per_text,
               "token_counter": o.token_counter, "texts_per_second": o.texts_per_second, "usd_per_hour": o.usd_per_hour,
               "usd_per_1k_texts": (o.usd_per_text * 1000 if o.kind == "api"
                                    else o.usd_per_hour / (3.6 * o.texts_per_second)),
               "throughput_source": o.throughput_source, "as_of": o.as_of,
               "costs": {str(n): o.cost(n, min_billed_hours) for n in scales}}
        if o.kind == "self-hosted" and reference is not None:
            row["break_even"] = {"versus": reference.name, "texts": break_even(
                reference.usd_per_text, o.texts_per_second, o.usd_per_hour, min_billed_hours)}
        rows.append(row)
    return rows
