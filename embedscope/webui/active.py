"""The web app's active mode: the pairs to judge next, in `embedscope judge-next`'s order, and where every
pair of models stands after each judgment (verdict, interval, probability, settled).

One ActiveJudging per app, built on first use and kept current: a judgment saved through the app updates it in
place; judgments written by anything else (another tab, `embedscope pool --judge-url`) are picked up by
comparing the saved labels on every request.
"""

from __future__ import annotations

import threading

from embedscope.noqrels.active import for_run_dir, run_dir_labels

SNIPPET = 300  # characters of a document shown with a next pair


class ActiveMode:
    def __init__(self, explorer, metric: str | None = None, alpha: float = 0.05, strategy: str = "mtc"):
        self.explorer = explorer
        # MTC's bound assumes the highest grade a judge can give: the app's scale for this data
        self.options = {"metric": metric, "alpha": alpha, "strategy": strategy, "max_grade": explorer.max_grade}
        self._active = None
        self._labels: dict | None = None
        self._lock = threading.Lock()

    def _current(self):
        labels = run_dir_labels(self.explorer.run_dir)
        if self._active is None:
            self._active = for_run_dir(self.explorer.run_dir, dataset=self.explorer.dataset, **self.options)
        elif labels != self._labels:
            self._active.set_labels(labels, self.explorer.dataset.qrels)
        self._labels = labels
        return self._active

    def state(self, n: int = 10) -> dict:
        """Verdicts, whether to stop, and the next `n` pairs with their texts, for the page."""
        with self._lock:
            state = self._current().state(n)
        for pair in state["next"]:
            pair["query"] = self.explorer.dataset.queries.get(pair["query_id"], "")
            doc = self.explorer.document(pair["doc_id"], SNIPPET)
            pair.update({"title": doc["title"], "text": doc["text"]})
        return state

    def order(self, query_id: str, doc_ids: list[str]) -> list[str]:
        """One query's pool in judge-next's order: the documents whose judgment can move the open comparisons
        most first, judged ones last (the web app's blind list, with `embedscope serve --active`)."""
        with self._lock:
            active = self._current()
            score = active.scores()
        rank = {}
        for i, did in enumerate(doc_ids):
            at = active.index.get((query_id, did))
            judged = at is None or active.judged[at]
            rank[did] = (judged, -(score[at] if at is not None else 0.0), i)
        return sorted(doc_ids, key=rank.get)

    def judged(self) -> None:
        """A judgment was just saved through the app: bring the comparison up to date (only the judged query's
        bound is recomputed)."""
        with self._lock:
            if self._active is not None:
                self._current()
