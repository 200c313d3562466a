"""LLM rerankers over an OpenAI-compatible chat completions API (OpenAI, vLLM, llama.cpp, Ollama, ...).

Listwise (RankGPT, Sun et al. 2023): the model sees a window of numbered passages and answers with a
permutation such as "[3] > [1] > [2]"; a window slides from the bottom of the candidate list to the top
(`window` passages, moving `step`), so strong passages deep in the list can climb to the top.
Pairwise (PRP-allpair, Qin et al. 2024): the model picks the more relevant of two passages for every pair, in
both orders to cancel position bias; a passage's score is its number of wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

from embedscope.remote import ChatClient

LISTWISE_SYSTEM = "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
LISTWISE_PROMPT = (
    "I will provide you with {n} passages, each indicated by a numerical identifier []. "
    "Rank the passages based on their relevance to the search query: {query}\n\n{passages}\n\n"
    "Search Query: {query}\nRank the {n} passages above based on their relevance to the search query. "
    "List them in descending order of relevance using their identifiers, the most relevant first. "
    "The output format should be [] > [], e.g., [2] > [1]. Only respond with the ranking, do not explain."
)
PAIRWISE_PROMPT = (
    'Given a query "{query}", which of the following two passages is more relevant to the query?\n\n'
    'Passage A: "{a}"\n\nPassage B: "{b}"\n\nOutput Passage A or Passage B:'
)


def parse_permutation(text: str, n: int) -> list[int]:
    """'[3] > [1] > [2]' -> [2, 0, 1] (0-based), robust to chatter, repeats, out-of-range and missing ids:
    the first mention of each valid id counts, and ids never mentioned follow in their current order."""
    found = re.findall(r"\[(\d+)\]", text) or re.findall(r"\d+", text)
    order: list[int] = []
    for token in found:
        i = int(token) - 1
        if 0 <= i < n and i not in order:
            order.append(i)
    return order + [i for i in range(n) if i not in order]


def parse_choice(text: str) -> str | None:
    """'Passage A' / 'B' / 'passage b is more relevant' -> 'A' or 'B'; None when the answer names neither."""
    match = re.search(r"passage\s*\(?([ab])\b", text, flags=re.IGNORECASE)
    if match:
        return match.group(1).upper()
    bare = text.strip().strip(".:*\"' ").upper()
    return bare if bare in ("A", "B") else None


def _shorten(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words])


class _ChatReranker:
    def __init__(self, url: str | None, model: str | None = None, name: str | None = None,
                 api_key: str | None = None, key_env: str = "OPENAI_API_KEY", max_words: int = 300,
                 temperature: float = 0.0, timeout: float = 120.0, retries: int = 5, backoff: float = 1.0):
        self.model = model
        self.max_words = max_words
        try:
            self.client = ChatClient(url, model, api_key=api_key, key_env=key_env, temperature=temperature,
                                     timeout=timeout, retries=retries, backoff=backoff)
        except ValueError as e:  # say it in the spec's terms: llm-listwise:URL?model=NAME
            raise ValueError(f"{self.kind}: {e}; write {self.kind}:http://127.0.0.1:8000/v1?model=NAME") from None
        self.name = name or f"{self.kind}-{model}"

    @property
    def calls(self) -> int:
        return self.client.calls

    def chat(self, messages: list[dict], max_tokens: int) -> str:
        return self.client.chat(messages, max_tokens)

    def preflight(self) -> list[str]:
        return self.client.preflight()


class ListwiseLLMReranker(_ChatReranker):
    kind = "llm-listwise"

    def __init__(self, url: str | None = None, window: int = 20, step: int = 10, **options):
        if window < 2 or not 0 < step <= window:
            raise ValueError(f"need window >= 2 and 0 < step <= window, got window={window}, step={step}")
        self.window, self.step = window, step
        super().__init__(url, **options)

    def permute(self, query: str, documents: Sequence[str]) -> list[int]:
        """The model's order of `documents`, best first (0-based positions)."""
        passages = "\n".join(f"[{i}] {_shorten(d, self.max_words)}" for i, d in enumerate(documents, start=1))
        prompt = LISTWISE_PROMPT.format(n=len(documents), query=query, passages=passages)
        answer = self.chat([{"role": "system", "content": LISTWISE_SYSTEM}, {"role": "user", "content": prompt}],
                           max_tokens=8 * len(documents) + 16)
        return parse_permutation(answer, len(documents))

    def rank(self, query: str, documents: Sequence[str]) -> list[int]:
        """Sliding windows from the bottom up; the last window always starts at the top of the list."""
        order = list(range(len(documents)))
        end = len(order)
        while end > 0:
            start = max(0, end - self.window)
            window = order[start:end]
            if len(window) > 1:
                new = self.permute(query, [documents[i] for i in window])
                order[start:end] = [window[i] for i in new]
            if start == 0:
                break
            end -= self.step
        return order

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        order = self.rank(query, documents)
        scores = [0.0] * len(documents)
        for position, i in enumerate(order):
            scores[i] = float(len(documents) - position)  # rank-derived: only the order is meaningful
        return scores


class PairwiseLLMReranker(_ChatReranker):
    kind = "llm-pairwise"

    def __init__(self, url: str | None = None, both_orders: bool = True, **options):
        self.both_orders = both_orders
        super().__init__(url, **options)

    def prefer(self, query: str, a: str, b: str) -> str | None:
        prompt = PAIRWISE_PROMPT.format(query=query, a=_shorten(a, self.max_words), b=_shorten(b, self.max_words))
        return parse_choice(self.chat([{"role": "user", "content": prompt}], max_tokens=8))

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        n = len(documents)
        wins = [0.0] * n
        for i, j in combinations(range(n), 2):
            orders = [(i, j), (j, i)] if self.both_orders else [(i, j)]
            for first, second in orders:
                choice = self.prefer(query, documents[first], documents[second])
                if choice == "A":
                    wins[first] += 1
                elif choice == "B":
                    wins[second] += 1
                else:  # no usable answer: half a win each
                    wins[first] += 0.5
                    wins[second] += 0.5
        # Equal wins keep the first-stage order: the tie-break term stays below the 0.5 win granularity.
        return [w - position / (2 * n + 2) for position, w in enumerate(wins)]
