"""Fine-tuning with guard rails: training data, hard-negative mining, training, and a significance-gated promotion."""

from embedscope.finetune.data import TrainingExample, examples_from_beir, read_training_jsonl, write_training_jsonl
from embedscope.finetune.guard import GuardDecision, before_after, guard, guard_evaluations
from embedscope.finetune.mining import MiningSettings, mine_hard_negatives, parse_range
from embedscope.finetune.train import TrainResult, TrainSettings, finetune

__all__ = [
    "GuardDecision",
    "MiningSettings",
    "TrainResult",
    "TrainSettings",
    "TrainingExample",
    "before_after",
    "examples_from_beir",
    "finetune",
    "guard",
    "guard_evaluations",
    "mine_hard_negatives",
    "parse_range",
    "read_training_jsonl",
    "write_training_jsonl",
]
