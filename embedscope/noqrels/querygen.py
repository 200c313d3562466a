"""Queries generated from documents, so a corpus without queries or qrels can still be evaluated.

Each generated query is labelled relevant (grade 1) to the document it came from, the InPars / GPL recipe.
Two generators:
  LLMQueryGenerator      an OpenAI-compatible chat model asked for a question the passage answers (best).
  OfflineQueryGenerator  no LLM: the title, or the passage's most salient TF-IDF terms. Weaker: keyword
                         queries share the document's words, so they favour lexical models such as BM25.
A QueryFilter then drops queries that are too short or long, copy the passage verbatim, repeat another
query, or fail the round trip (their source document is not in the top-N of a chosen retriever).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from embedscope import progress
from embedscope.data import Dataset, Document

SYSTEM_PROMPT = (
    "You write search queries for evaluating a search engine. Given a passage, write one question that a "
    "person might type into a search box and that the passage answers. Use your own words: do not copy "
    "phrases from the passage. Reply with the question only, on one line, without quotes or numbering."
)
MAX_PASSAGE_CHARS = 2000
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class GeneratedQuery:
    id: str
    text: str
    doc_id: str
    generator: str


def _clean(reply: str) -> str:
    """First non-empty line, without list markers, 'Question:' labels or surrounding quotes."""
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    while True:  # "1. Question: ..." carries two labels
        stripped = re.sub(r"^(\d+[.)]\s*|[-*]\s+|(question|query)\s*:\s*)", "", line, flags=re.IGNORECASE).strip()
        if stripped == line:
            return line.strip("\"'“”").strip()
        line = stripped


class LLMQueryGenerator:
    name = "llm"

    def __init__(self, client, per_doc: int = 1):
        self.client = client
        self.per_doc = per_doc

    def generate(self, doc: Document) -> list[str]:
        passage = doc.full_text[:MAX_PASSAGE_CHARS]
        out: list[str] = []
        for i in range(self.per_doc):
            extra = "" if i == 0 else f"\nWrite a different question than: {' | '.join(out)}"
            text = _clean(self.client.complete(SYSTEM_PROMPT, f"Passage:\n{passage}{extra}"))
            if text:
                out.append(text)
        return out


class OfflineQueryGenerator:
    """Queries without an LLM: `title` (documents without one fall back to terms) or `terms`, the `n_terms`
    words with the highest TF-IDF weight in the document, most salient first."""

    def __init__(self, corpus: dict[str, Document], mode: str = "terms", n_terms: int = 6):
        if mode not in ("terms", "title"):
            raise ValueError(f"offline generator mode must be 'terms' or 'title', got '{mode}'")
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.name = f"offline-{mode}"
        self.mode, self.n_terms = mode, n_terms
        self.ids = list(corpus)
        self.row = {d: i for i, d in enumerate(self.ids)}
        # English stop words out, and words in nearly every document are not salient either.
        self.vectorizer = TfidfVectorizer(stop_words="english", max_df=0.5, token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
        self.matrix = self.vectorizer.fit_transform([corpus[d].full_text for d in self.ids])
        self.vocabulary = self.vectorizer.get_feature_names_out()

    def terms(self, doc_id: str) -> str:
        row = self.matrix[self.row[doc_id]]
        top = sorted(zip(row.data, row.indices), key=lambda t: (-t[0], t[1]))[: self.n_terms]
        return " ".join(self.vocabulary[j] for _, j in top)

    def generate(self, doc: Document) -> list[str]:
        if self.mode == "title" and len(words(doc.title)) >= 3:
            return [doc.title.strip()]
        text = self.terms(doc.id)
        return [text] if text else []


def longest_copied_span(query: str, passage: str) -> int:
    """Length in words of the longest run of consecutive query words that also occurs in the passage."""
    q, p = words(query), words(passage)
    best = 0
    # Classic longest-common-substring DP over words; queries are short, so this is cheap.
    previous = [0] * (len(p) + 1)
    for qw in q:
        current = [0] * (len(p) + 1)
        for j, pw in enumerate(p, start=1):
            if qw == pw:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


@dataclass
class QueryFilter:
    """Quality filter for generated queries. `retriever` (a Retriever, e.g. BM25 or a DenseRetriever) turns on
    the round-trip check: a query is kept only if its source document is in that retriever's top `top_n`."""

    min_words: int = 3
    max_words: int = 40
    max_copied_words: int = 8
    dedupe: bool = True
    retriever: object | None = None
    top_n: int = 20

    def check_text(self, query: GeneratedQuery, doc: Document, seen: set[str]) -> str | None:
        n = len(words(query.text))
        if n < self.min_words:
            return "too_short"
        if n > self.max_words:
            return "too_long"
        # The body only: using the title as the query is a deliberate strategy, not copying.
        if longest_copied_span(query.text, doc.text) > self.max_copied_words:
            return "copied"
        if self.dedupe and " ".join(words(query.text)) in seen:
            return "duplicate"
        return None

    def apply(self, candidates: list[GeneratedQuery], corpus: dict[str, Document]):
        """(kept, dropped) where dropped is a list of (query, reason)."""
        kept: list[GeneratedQuery] = []
        dropped: list[tuple[GeneratedQuery, str]] = []
        seen: set[str] = set()
        for q in candidates:
            reason = self.check_text(q, corpus[q.doc_id], seen)
            if reason:
                dropped.append((q, reason))
            else:
                seen.add(" ".join(words(q.text)))
                kept.append(q)
        if self.retriever is not None and kept:
            probe = Dataset("round-trip", corpus, {q.id: q.text for q in kept})
            run = self.retriever.retrieve(probe, self.top_n)
            survivors = []
            for q in kept:
                if q.doc_id in {d for d, _ in run.ranked(q.id, self.top_n)}:
                    survivors.append(q)
                else:
                    dropped.append((q, "round_trip"))
            kept = survivors
        return kept, dropped


def generate_queries(corpus: dict[str, Document], generator, doc_ids: list[str] | None = None,
                     id_prefix: str = "gen") -> list[GeneratedQuery]:
    """Ask the generator for queries for each document (all of them, or `doc_ids`)."""
    doc_ids = list(corpus) if doc_ids is None else doc_ids
    out: list[GeneratedQuery] = []
    with progress.task(f"generating queries ({generator.name})", len(doc_ids)) as advance:
        for did in doc_ids:
            for i, text in enumerate(generator.generate(corpus[did])):
                out.append(GeneratedQuery(f"{id_prefix}-{did}-{i}", text, did, generator.name))
            advance(1)
    return out


def write_generated(folder: str | Path, corpus: dict[str, Document], kept: list[GeneratedQuery],
                    dropped: list[tuple[GeneratedQuery, str]], split: str = "generated", settings: dict | None = None) -> Path:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) that `embedscope run --split` reads,
    plus generation.json with what was dropped and why."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc in corpus.values():
            f.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in kept:
            f.write(json.dumps({"_id": q.id, "text": q.text, "source_doc": q.doc_id}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in kept:
            f.write(f"{q.id}\t{q.doc_id}\t1\n")
    report = {
        "generated": len(kept) + len(dropped),
        "kept": len(kept),
        "dropped": dict(Counter(reason for _, reason in dropped)),
        "examples_dropped": [{"query": q.text, "doc_id": q.doc_id, "reason": r} for q, r in dropped[:20]],
        "settings": settings or {},
    }
    (folder / "generation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder
