"""Evaluation without qrels: generate queries from documents, pool the top hits of every model, judge the pool.

The outputs are plain BEIR files (queries.jsonl, `query-id corpus-id score` qrels), so generated queries,
LLM judgments and human judgments made in `embedscope serve` all feed the same `embedscope run`.
Active judging (`embedscope judge-next`) orders the pool so the comparison of the models settles with the
fewest judgments, and says when it has.
"""

from embedscope.noqrels.active import ActiveJudging, NextPair, PairVerdict, for_run_dir
from embedscope.noqrels.judge import LLMJudge, judge_pool, parse_grade
from embedscope.noqrels.pooling import depth_pool, evaluate_on_labels, judged_at_k, read_pool, write_pool
from embedscope.noqrels.querygen import (
    GeneratedQuery,
    LLMQueryGenerator,
    OfflineQueryGenerator,
    QueryFilter,
    generate_queries,
    write_generated,
)
from embedscope.remote import ChatClient

__all__ = [
    "ActiveJudging",
    "ChatClient",
    "GeneratedQuery",
    "LLMJudge",
    "LLMQueryGenerator",
    "NextPair",
    "OfflineQueryGenerator",
    "PairVerdict",
    "QueryFilter",
    "depth_pool",
    "evaluate_on_labels",
    "for_run_dir",
    "generate_queries",
    "judge_pool",
    "judged_at_k",
    "parse_grade",
    "read_pool",
    "write_generated",
    "write_pool",
]
