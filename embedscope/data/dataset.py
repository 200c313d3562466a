from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""
    # Fields a corpus row carries besides id, title and text (e.g. {"lang": "en"}): what `--filter FIELD=VALUE`
    # matches. Left out of equality and hashing: two documents are the same text whatever their tags.
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def full_text(self) -> str:
        # BEIR and MTEB embed "title text" stripped; doing the same keeps scores comparable to published ones.
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()


@dataclass
class Dataset:
    """A corpus, queries and (optionally) graded relevance judgments: `qrels[qid][docid] = grade`."""

    name: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def doc_ids(self) -> list[str]:
        return list(self.corpus)

    @property
    def doc_texts(self) -> list[str]:
        return [d.full_text for d in self.corpus.values()]

    @property
    def query_ids(self) -> list[str]:
        return list(self.queries)

    @property
    def query_texts(self) -> list[str]:
        return list(self.queries.values())

    @property
    def has_qrels(self) -> bool:
        return bool(self.qrels)

    def subset(self, n_queries: int | None = None, n_docs: int | None = None, seed: int = 0) -> "Dataset":
        """A smaller dataset that keeps every judged document of the kept queries, then fills with others.

        Used for fast tests and previews; keeping the judged docs means metrics stay meaningful.
        """
        import random

        rng = random.Random(seed)
        qids = list(self.queries)
        if n_queries is not None and n_queries < len(qids):
            qids = sorted(rng.sample(qids, n_queries), key=qids.index)
        qrels = {q: dict(self.qrels[q]) for q in qids if q in self.qrels}
        keep = {d for q in qrels for d in qrels[q]}
        if n_docs is not None and n_docs > len(keep):
            others = [d for d in self.corpus if d not in keep]
            keep.update(rng.sample(others, min(len(others), n_docs - len(keep))))
        elif n_docs is None:
            keep = set(self.corpus)
        corpus = {d: doc for d, doc in self.corpus.items() if d in keep}
        return Dataset(
            name=f"{self.name}-sub{len(qids)}q{len(corpus)}d",
            corpus=corpus,
            queries={q: self.queries[q] for q in qids},
            qrels=qrels,
        )

    def summary(self) -> dict:
        grades = sorted({g for rels in self.qrels.values() for g in rels.values()})
        return {
            "name": self.name,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judged_queries": len(self.qrels),
            "judgments": sum(len(r) for r in self.qrels.values()),
            "grades": grades,
        }
