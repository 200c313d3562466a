"""`embedscope generate-queries`: queries (and one-document qrels) generated from a corpus that has none."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import click

from embedscope.cli import options


def read_corpus(data: str | None, corpus: str | None):
    from embedscope.data.beir import _find, read_corpus_jsonl
    from embedscope.data.errors import DataError
    from embedscope.data.named import is_name, resolve

    if corpus:
        return read_corpus_jsonl(Path(corpus))
    if not data:
        raise click.UsageError("name the documents with --data NAME|DIR (dataset name or BEIR folder) or --corpus FILE "
                               "(corpus.jsonl)")
    folder = resolve(data) if is_name(data) else Path(data)
    if not folder.is_dir():
        raise DataError(data, "dataset folder not found")
    return read_corpus_jsonl(_find(folder, "corpus"))


def llm_client(url: str | None, model: str | None, api_key_env: str, option: str):
    from embedscope.noqrels import ChatClient

    if not url or not model:
        raise click.UsageError(f"{option} needs both a URL and a model name")
    return ChatClient(url, model, key_env=api_key_env)


@dataclasses.dataclass
class Generator:
    """What writes the queries."""

    generator: str
    llm_url: str | None
    llm_model: str | None
    api_key_env: str
    per_doc: int


@dataclasses.dataclass
class Checks:
    """Which generated queries are kept."""

    filter_model: str
    top_n: int
    min_words: int
    max_words: int
    max_copied_words: int


@options.command("generate-queries")
@options.shared("data", "corpus", "max_docs", "cache")
@click.option("--generator", type=click.Choice(["llm", "terms", "title"]), default="llm", show_default=True,
              help="llm: an OpenAI-compatible chat model; terms/title: offline, no LLM (weaker, lexical).")
@click.option("--llm-url", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
@click.option("--llm-model", help="Chat model name on that server.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--num-docs", type=int, help="Generate from a random sample of this many documents [all].")
@click.option("--per-doc", type=int, default=1, show_default=True, help="Queries asked for per document (LLM).")
@click.option("--filter-model", default="bm25", show_default=True,
              help="Retriever for the round-trip check (a query is kept only if it finds its source document); 'none' turns it off.")
@click.option("--top-n", type=int, default=20, show_default=True, help="Round trip: the source document must be in this top-N.")
@click.option("--min-words", type=int, default=3, show_default=True)
@click.option("--max-words", type=int, default=40, show_default=True)
@click.option("--max-copied-words", type=int, default=8, show_default=True,
              help="Drop queries that copy a longer run of consecutive words from the passage body.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", "-o", required=True, help="Folder to write: corpus.jsonl, queries.jsonl, qrels/generated.tsv.")
@options.gather("gen", Generator)
@options.gather("checks", Checks)
def command(settings, gen, checks, num_docs, seed, output):
    """Generate queries from documents so a corpus without qrels can be evaluated.

    Only the documents of --data (or --corpus) are read; --max-docs keeps a random sample of that many as the
    corpus (the documents queries come from are kept). Each kept query is judged relevant (grade 1) to the
    document it came from; evaluate with `embedscope run --data OUTPUT --split generated`.
    """
    from embedscope.runs.context import RetrievalContext
    from embedscope.models import load_model
    from embedscope.noqrels import LLMQueryGenerator, OfflineQueryGenerator, QueryFilter, generate_queries, write_generated

    data = settings["data"] if "data" in settings["named"] else None
    corpus, max_docs, cache = settings.get("corpus"), settings.get("max_docs"), settings["cache"]
    generator, llm_url, llm_model, per_doc = gen.generator, gen.llm_url, gen.llm_model, gen.per_doc
    docs = read_corpus(data, corpus)
    rng = random.Random(seed)
    ids = list(docs)
    chosen = sorted(rng.sample(ids, num_docs), key=ids.index) if num_docs and num_docs < len(ids) else ids
    if max_docs and max_docs < len(docs):
        keep = set(chosen[:max_docs])
        others = [d for d in ids if d not in keep]
        keep.update(rng.sample(others, max(0, min(len(others), max_docs - len(keep)))))
        docs = {d: doc for d, doc in docs.items() if d in keep}
        chosen = [d for d in chosen if d in docs]
    if generator == "llm":
        from embedscope.models.preflight import check_llm

        client = check_llm(llm_client(llm_url, llm_model, gen.api_key_env, "--generator llm"), "query generator")
        gen = LLMQueryGenerator(client, per_doc=per_doc)
    else:
        gen = OfflineQueryGenerator(docs, mode=generator)
        click.echo(f"offline generator ({generator}): keyword-style queries, weaker than an LLM's and biased "
                   "toward lexical models such as BM25", err=True)
    candidates = generate_queries(docs, gen, chosen)
    retriever = None
    if checks.filter_model and checks.filter_model.lower() != "none":
        retriever = RetrievalContext(cache).retriever(load_model(checks.filter_model))
    qfilter = QueryFilter(min_words=checks.min_words, max_words=checks.max_words,
                          max_copied_words=checks.max_copied_words, retriever=retriever, top_n=checks.top_n)
    kept, dropped = qfilter.apply(candidates, docs)
    settings = {"generator": gen.name, "llm_url": llm_url, "llm_model": llm_model, "documents": len(chosen),
                "per_doc": per_doc, **dataclasses.asdict(checks), "seed": seed}
    folder = write_generated(output, docs, kept, dropped, settings=settings)
    reasons = {}
    for _, reason in dropped:
        reasons[reason] = reasons.get(reason, 0) + 1
    click.echo(f"{len(candidates)} queries generated from {len(chosen)} documents; kept {len(kept)}"
               + (f", dropped {', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))}" if reasons else ""))
    if not kept:
        raise click.ClickException("no query survived the filter; loosen it or check the generator's output")
    click.echo(f"evaluate with: embedscope run --data {folder} --split generated")
    return folder
