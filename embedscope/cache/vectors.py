"""What makes a vector fit to cache and to search: the right dimension, finite values, and (for cosine
similarity, which divides by it) a norm above zero.

A model or an API can return NaN, infinities or all-zero vectors (an overflow, a bad checkpoint, a text of
unknown tokens, a server bug). Scored as they are, they give a plausible-looking nDCG over meaningless
rankings, so every vector is checked before it is cached and again before it is searched. What happens to a
bad one is the run's choice: `stop` (the default) ends the run with a message naming the model, the text and
the fault; `record` leaves that text out (a document is never retrieved, a query retrieves nothing, so it
scores zero) and lists it as a failure in the results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedscope.errors import EmbedscopeError

POLICIES = ("stop", "record")
EXAMPLES = 3  # failures named in one message


class BadVectorError(EmbedscopeError, ValueError):
    """A model returned a vector that cannot be scored (wrong dimension, NaN or infinite values, zero norm)."""


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"bad-vector policy must be one of {', '.join(POLICIES)}, got '{policy}'")
    return policy


def vector_faults(vectors: np.ndarray, dim: int | None = None, need_norm: bool = False) -> dict[int, str]:
    """{row: fault} for every row that may not be cached or searched. A whole matrix of the wrong shape
    faults every row."""
    vectors = np.asarray(vectors)
    rows = vectors.shape[0] if vectors.ndim >= 1 else 0
    if vectors.ndim != 2:
        return dict.fromkeys(range(rows), f"a {vectors.ndim}-D array instead of one vector per text")
    if dim is not None and vectors.shape[1] != dim:
        return dict.fromkeys(range(rows), f"{vectors.shape[1]} dimensions, expected {dim}")
    if vectors.shape[1] == 0:
        return dict.fromkeys(range(rows), "0 dimensions")
    faults: dict[int, str] = {}
    nan = np.isnan(vectors).any(axis=1)
    inf = np.isinf(vectors).any(axis=1)
    for row in np.flatnonzero(nan | inf):
        faults[int(row)] = "NaN values" if nan[row] else "infinite values"
    if need_norm:
        zero = ~(nan | inf) & ~np.any(vectors != 0, axis=1)
        for row in np.flatnonzero(zero):
            faults[int(row)] = "an all-zero vector (cosine similarity needs a norm above zero)"
    return faults


def describe(model: str, role: str, faults: dict[str, str], total: int) -> str:
    """One line: the model, how many of its texts failed, and the first few by id with their fault."""
    shown = "; ".join(f"{role} '{text_id}': {fault}" for text_id, fault in list(faults.items())[:EXAMPLES])
    more = f" and {len(faults) - EXAMPLES:,} more" if len(faults) > EXAMPLES else ""
    return (f"model '{model}' returned bad vectors for {len(faults):,} of {total:,} {role}s ({shown}{more}); "
            f"nothing was scored. Fix the model or endpoint, or pass --bad-vectors record to leave such texts "
            f"out and list them as failures")


def text_label(ids: Sequence[str] | None, texts: Sequence[str], position: int) -> str:
    """How a message names a text: its id, or without ids its position and first words."""
    if ids is not None:
        return str(ids[position])
    text = " ".join(str(texts[position]).split())
    return f"#{position + 1} \"{text[:40]}{'…' if len(text) > 40 else ''}\""
