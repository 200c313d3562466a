"""An LLM relevance judge (any OpenAI-compatible chat model) for pooled (query, document) pairs.

Grades follow the 3-level scale of the web UI: 2 relevant, 1 partly relevant, 0 not relevant. The model is asked
for exactly `Relevance: N`; parse_grade also accepts a bare digit or a small JSON object, and anything else
is asked again once, then left unjudged (never guessed). Every grade is cached in a JSONL file keyed by the
judge model, the prompt version and the two texts, so a rerun or a larger pool only pays for new pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from embedscope import progress

log = logging.getLogger(__name__)

PROMPT_VERSION = "judge-v1"
SYSTEM_PROMPT = (
    "You are a search relevance assessor. Given a search query and a document, grade how well the document "
    "answers the query:\n"
    "2 = relevant: the document answers the query or is exactly what the searcher wants\n"
    "1 = partly relevant: on topic, but answers only part of it or only gives related information\n"
    "0 = not relevant\n"
    "Reply with exactly one line in the form `Relevance: N` where N is 0, 1 or 2, and nothing else."
)
MAX_DOC_CHARS = 3000
_LABELLED = re.compile(r"\b(?:relevance|grade|score|label)\b\s*[:=]?\s*\**\s*([0-2])\b", re.IGNORECASE)
_BARE = re.compile(r"^\W*([0-2])\W*$")


def parse_grade(reply: str) -> int | None:
    """0, 1 or 2 from a judge reply, or None when the reply does not state exactly one grade."""
    text = (reply or "").strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            for key in ("relevance", "grade", "score", "label"):
                value = obj.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
                    return value
                if isinstance(value, str) and value.strip() in ("0", "1", "2"):
                    return int(value)
            return None
    bare = _BARE.match(text)
    if bare:
        return int(bare.group(1))
    found = {int(m) for m in _LABELLED.findall(text)}
    return found.pop() if len(found) == 1 else None  # two different labelled grades: ambiguous, not guessed


def judgment_key(model: str, query: str, document: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (PROMPT_VERSION, model, query, document):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class JudgmentCache:
    """Append-only JSONL of {key, grade}: safe to kill at any time, lines are flushed one by one."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.grades: dict[str, int] = {}
        self._lock = threading.Lock()
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        self.grades[entry["key"]] = int(entry["grade"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a kill: that pair is simply judged again

    def get(self, key: str) -> int | None:
        return self.grades.get(key)

    def put(self, key: str, grade: int) -> None:
        with self._lock:
            self.grades[key] = grade
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "grade": grade}) + "\n")


class LLMJudge:
    def __init__(self, client, cache_path: str | Path | None = None, attempts: int = 2):
        self.client = client
        self.cache = JudgmentCache(cache_path)
        self.attempts = attempts
        self.calls = 0
        self._checked = False

    @property
    def name(self) -> str:
        return f"llm:{self.client.model}"

    def check(self) -> None:
        """One tiny request to the chat model (key, server, model name) before the first judgment, so a bad
        URL or key is one error line (PreflightError, exit code 2) rather than a failure per pair. Once."""
        if not self._checked:
            from embedscope.models.preflight import check_llm

            check_llm(self.client, "LLM judge")
            self._checked = True

    def cached(self, query: str, document: str) -> bool:
        return self.cache.get(judgment_key(self.client.model, query, document)) is not None

    def judge(self, query: str, document: str) -> tuple[int | None, bool]:
        """(grade or None, came_from_cache)."""
        key = judgment_key(self.client.model, query, document)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        user = f"Query: {query}\n\nDocument: {document[:MAX_DOC_CHARS]}"
        for _ in range(self.attempts):
            self.calls += 1
            grade = parse_grade(self.client.complete(SYSTEM_PROMPT, user))
            if grade is not None:
                self.cache.put(key, grade)
                return grade, False
        return None, False


def judge_pool(pool: dict[str, list[str]], dataset, judge: LLMJudge, workers: int = 4, skip=None):
    """Labels for every pooled pair: (qrels, stats). Pairs already in `skip` (e.g. human judgments) are not sent."""
    skip = skip or {}
    pairs = [(q, d) for q, docs in pool.items() for d in docs if d not in skip.get(q, {})]
    for qid, did in pairs:
        if qid not in dataset.queries:
            raise ValueError(f"pooled query '{qid}' is not in the dataset's queries")
        if did not in dataset.corpus:
            raise ValueError(f"pooled document '{did}' is not in the dataset's corpus")

    if any(not judge.cached(dataset.queries[q], dataset.corpus[d].full_text) for q, d in pairs):
        judge.check()
    elif pairs:
        log.debug(f"[{judge.name}] pre-flight check skipped: all {len(pairs):,} judgments are cached")

    def one(pair):
        qid, did = pair
        return pair, judge.judge(dataset.queries[qid], dataset.corpus[did].full_text)

    qrels: dict[str, dict[str, int]] = {}
    stats = {"pairs": len(pairs), "cached": 0, "judged": 0, "failed": 0}
    with progress.task(f"judging with {judge.name}", len(pairs)) as advance, ThreadPoolExecutor(workers) as ex:
        for (qid, did), (grade, cached) in ex.map(one, pairs):
            advance(1)
            if grade is None:
                stats["failed"] += 1
                continue
            stats["cached" if cached else "judged"] += 1
            qrels.setdefault(qid, {})[did] = grade
    stats["calls"] = judge.calls
    return qrels, stats
