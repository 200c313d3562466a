"""Pipelines: retrieval strategies built from models — hybrid fusion, reranking, cluster-filtered search.

Each is a Retriever (name, retrieve(dataset, k) -> Run), so it is compared, scored and tested like any model.
Model specs (`embedscope run --model ...`):

    hybrid:FIRST+SECOND[+...]?fusion=rrf|min-max|z-score&rrf_k=60&alpha=0.5&weights=..&depth=..
    rerank:FIRST>RERANKER?top=100&keep_rest=true&<reranker options>
        RERANKER = cross-encoder:PATH | cohere[:URL] | voyage[:URL] | jina[:URL] | llm-listwise:URL | llm-pairwise:URL
    cluster-filter:MODEL?clusters=20&probe=1&seed=0

Stages are model specs without options (minilm, bm25, wordllama, st:PATH, hybrid:...); options after '?' belong
to the pipeline. Stages that need options are written as YAML entries instead (see the README).
"""

from embedscope.pipelines import cluster_filter, hybrid, rerank  # noqa: F401  (register the model kinds)
from embedscope.pipelines.cluster_filter import ClusterFilterRetriever
from embedscope.pipelines.hybrid import HybridRetriever, alpha_sweep
from embedscope.pipelines.rerank import Reranker, RerankRetriever, load_reranker

__all__ = ["ClusterFilterRetriever", "HybridRetriever", "Reranker", "RerankRetriever", "alpha_sweep", "load_reranker"]
