"""Runs: the ranked results of one system, in memory and as TREC run files."""

from embedscope.runs.run import Run, ranking

__all__ = ["DenseRetriever", "Run", "ranking"]


def __getattr__(name):  # DenseRetriever pulls in the cache and index; import it only when asked for
    if name == "DenseRetriever":
        from embedscope.runs.dense import DenseRetriever

        return DenseRetriever
    raise AttributeError(name)
