"""Metadata filters: which documents a search may return, by their tag fields and the whole words of their text.
Exact search applies `Filter.mask`; each vector database translates the same filter into its own query."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

TEXT_FIELD = "text"  # the metadata field that gets a full-text index; every other field is an exact-match tag
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Filter:
    """Keep documents whose tag fields equal the given values and whose `text` field contains the given words.

    Word matching is whole-word and case-insensitive (a full-text match). Tokenizers disagree at the edges
    (RediSearch does not split on Unicode dashes, PostgreSQL's word classes follow the server locale), so
    backends store the `text` field as `search_text(text)`: lowercased \\w+ tokens between single spaces. Then a
    word filter is an exact token match everywhere: LIKE '% word %' in SQL, a whitespace tokenizer elsewhere.
    """

    tags: dict[str, str] = field(default_factory=dict)
    words: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(word.lower() for word in self.words))
        for word in self.words:
            if not _WORD.fullmatch(word) or not word.isalnum():
                raise ValueError(f"text filter word '{word}' must be a single word of letters and digits")
        for key in self.tags:
            if not _WORD.fullmatch(key) or key == TEXT_FIELD:
                raise ValueError(f"tag field '{key}' must be a plain name other than '{TEXT_FIELD}'")

    def matches(self, metadata: dict) -> bool:
        """The reference semantics, used by tests and by `mask()` for exact search over the same subset."""
        if any(str(metadata.get(key)) != str(value) for key, value in self.tags.items()):
            return False
        if self.words:
            tokens = set(_WORD.findall(str(metadata.get(TEXT_FIELD, "")).lower()))
            return all(word.lower() in tokens for word in self.words)
        return True

    def mask(self, metadata: list[dict]) -> np.ndarray:
        return np.fromiter((self.matches(m) for m in metadata), dtype=bool, count=len(metadata))

    def __bool__(self) -> bool:
        return bool(self.tags or self.words)
