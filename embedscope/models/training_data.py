"""Benchmark trust: was a model trained on the public benchmark it is being scored on?

Model cards list the training data their authors declare (cards.yaml `training_data`, as MTEB's model metadata
records it). A score measured on one of those datasets is not zero-shot: the model has seen its queries, its
documents or both, so the score flatters it against models that have not, and a leaderboard built on it says
little about data the model has never seen. Wherever such a score is shown (leaderboard, report,
recommendation, published-vs-yours table) it is flagged next to the number.

Benchmarks go by many spellings (HotpotQA, HotPotQAHardNegatives, NanoHotpotQARetrieval, HotpotQA-PL, hotpotqa);
`benchmark_key` maps them to one, so a model declared on a benchmark is flagged on its variants, subsets and
translations too (the same queries and documents), as MTEB itself does.
"""

from __future__ import annotations

import re

_TRANSLATION = re.compile(r"[-_](pl|nl|fa|vn|ar|de|fr|es|ja|ko|zh|ru|it|pt)$", re.IGNORECASE)
_SPLIT = re.compile(r"[-_. ](dev|test|train|validation)$", re.IGNORECASE)
_AFFIXES = (re.compile(r"^nano"), re.compile(r"hardnegatives$"), re.compile(r"(retrieval|reranking)$"))
MARK = "†"


def benchmark_key(name: str) -> str:
    """One key for every spelling of a benchmark: lower case, letters and digits only, without MTEB's task
    suffixes (Retrieval, Reranking, HardNegatives), the Nano subset prefix, a split or a translation suffix."""
    from embedscope.references import task_for

    text = task_for(str(name).strip())  # BEIR folder names -> MTEB task names (fiqa -> FiQA2018, ...)
    text = re.sub(r"-sub\w*$", "", text)
    text = _TRANSLATION.sub("", _SPLIT.sub("", text))
    key = re.sub(r"[^a-z0-9]", "", text.lower())
    for pattern in _AFFIXES:
        key = pattern.sub("", key)
    return key


def trained_on(training_data, dataset_name: str) -> list[str]:
    """The declared training datasets (names as declared) that are the dataset being evaluated."""
    if not training_data or not dataset_name:
        return []
    key = benchmark_key(dataset_name)
    return [name for name in training_data if key and benchmark_key(name) == key]


def card_training_data(info: dict, *names) -> tuple[list[str] | None, str | None]:
    """(declared training data, its source) from the card of a model (the card it carries, else the one its names
    find); a quantized copy without its own list takes its base model's."""
    from embedscope.models.cards import find_card

    card = find_card(((info or {}).get("card") or {}).get("name"), *names)
    if card is not None and card.training_data is None and card.base_model:
        card = find_card(card.base_model)
    if card is None or card.training_data is None:
        return None, None
    return list(card.training_data), card.training_data_source


def trust_note(model: str, dataset: str, overlap: list[str], source: str | None = None) -> str:
    return (f"{model} was trained on {', '.join(overlap)} (declared by its authors"
            + (f"; {source}" if source else "") + f"): its scores on {dataset} are not zero-shot and flatter it "
            "against models that never saw this data")


def flag(info: dict, dataset_name: str, name: str, *other_names) -> dict:
    """A model's info with `trained_on` and a warning added when the training data its authors declare include
    the dataset it was just scored on (unchanged otherwise)."""
    declared, source = card_training_data(info, name, *other_names)
    overlap = trained_on(declared, dataset_name)
    if not overlap:
        return info
    return {**info, "trained_on": overlap,
            "warnings": [*info.get("warnings", []), trust_note(name, dataset_name, overlap, source)]}
