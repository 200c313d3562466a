"""Text utilities that know about CJK scripts: language detection, word segmentation, token counts, chunking.

Whitespace splitting sees a whole Chinese paragraph as one "word", so every count or split here looks at the
script first: Chinese is segmented with jieba, and token estimates count CJK characters one by one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\U00020000-\U0002fa1f]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])|(?<=[.](?=\s))")
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s")


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK ideographs, kana or hangul."""
    chars = len(text) - len(_SPACE.findall(text))  # counted by the regex engine: a corpus sample is megabytes
    return len(_CJK.findall(text)) / chars if chars else 0.0


def detect_language(texts: Sequence[str], sample: int = 200) -> str:
    """'zh' when CJK dominates a sample of the texts, else 'en' (enough to choose a tokenizer)."""
    picked = list(texts[:: max(1, len(texts) // sample)])[:sample]
    joined = "".join(picked)
    return "zh" if joined and cjk_ratio(joined) > 0.3 else "en"


def _is_punctuation(token: str) -> bool:
    return all(unicodedata.category(c).startswith(("P", "S", "Z")) for c in token)


def segment_chinese(text: str) -> list[str]:
    """Words for search: jieba's search mode (also emits the shorter words inside long ones), lower-cased,
    punctuation dropped."""
    import jieba

    jieba.setLogLevel(60)  # jieba prints its dictionary loading at INFO
    return [t.lower() for t in jieba.lcut_for_search(text) if t.strip() and not _is_punctuation(t)]


def estimate_tokens(text: str) -> int:
    """Subword-token estimate without a tokenizer: each CJK character ~1 token, other words ~1.3 tokens.

    Use `count_tokens` with the model's tokenizer when you have one; this is for chunking and quick projections.
    """
    cjk = len(_CJK.findall(text))
    other = _CJK.sub(" ", text)
    words = len(_WORD.findall(other))
    punct = sum(1 for c in other if not c.isspace() and not c.isalnum())
    return cjk + round(1.3 * words) + punct


def count_tokens(texts: Sequence[str], tokenizer=None) -> list[int]:
    """Token counts with a Hugging Face tokenizer, a tiktoken encoding, or the CJK-aware estimate."""
    if tokenizer is None:
        return [estimate_tokens(t) for t in texts]
    if hasattr(tokenizer, "encode_batch"):  # tiktoken
        return [len(ids) for ids in tokenizer.encode_batch(list(texts), disallowed_special=())]
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def sentences(text: str) -> list[str]:
    """Split after Chinese and Western sentence ends (。！？；… and . ! ? ; followed by space)."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def _hard_split(sentence: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """A sentence longer than the budget: cut between characters for CJK, between words otherwise."""
    units = list(sentence) if cjk_ratio(sentence) > 0.3 else sentence.split(" ")
    joiner = "" if cjk_ratio(sentence) > 0.3 else " "
    pieces, current = [], []
    for unit in units:
        if current and count(joiner.join(current + [unit])) > max_tokens:
            pieces.append(joiner.join(current))
            current = []
        current.append(unit)
    if current:
        pieces.append(joiner.join(current))
    return pieces


def chunk(text: str, max_tokens: int = 256, overlap: int = 1, count: Callable[[str], int] = estimate_tokens) -> list[str]:
    """Pack whole sentences into chunks of at most `max_tokens`; consecutive chunks share `overlap` sentences."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    units: list[str] = []
    for s in sentences(text):
        units.extend(_hard_split(s, max_tokens, count) if count(s) > max_tokens else [s])
    if not units:
        return [text] if text.strip() else []
    joiner = "" if cjk_ratio(text) > 0.3 else " "
    chunks, current = [], []
    for unit in units:
        if current and count(joiner.join(current + [unit])) > max_tokens:
            chunks.append(joiner.join(current))
            current = current[-overlap:] if overlap else []
            while current and count(joiner.join(current + [unit])) > max_tokens:
                current = current[1:]
        current.append(unit)
    if current:
        chunks.append(joiner.join(current))
    return chunks
