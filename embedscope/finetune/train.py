"""Fine-tuning a sentence-transformers model with MultipleNegativesRankingLoss (in-batch + hard negatives).

Each (query, positive) pair becomes one row; with mined negatives the row also carries the first
`negatives` of them. Batches never hold the same text twice (NO_DUPLICATES sampler), because a duplicate
in the batch would be treated as a negative of its own query. Runs on CPU by default.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedscope.finetune.data import TrainingExample


@dataclass
class TrainSettings:
    epochs: float = 1.0
    max_steps: int = -1  # > 0 stops after this many optimizer steps (a quick run)
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    max_seq_length: int = 256
    negatives: int = 1  # hard negatives per row (0: in-batch negatives only)
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainResult:
    model_path: Path
    steps: int
    rows: int
    losses: list[dict] = field(default_factory=list)  # {"step", "loss"} as logged by the trainer
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    @property
    def first_loss(self) -> float | None:
        return self.losses[0]["loss"] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1]["loss"] if self.losses else None


def resolve_model_path(spec: str) -> str:
    """A sentence-transformers folder from a model spec (`minilm`, `st:PATH`) or a plain folder path."""
    if Path(spec).is_dir():
        return str(spec)
    from embedscope.models import load_model

    model = load_model(spec)
    path = getattr(model, "path", None)
    if not path or not hasattr(model, "model"):
        raise ValueError(f"'{spec}' is not a sentence-transformers model; only those can be fine-tuned here")
    return str(path)


def training_rows(examples: list[TrainingExample], negatives: int, seed: int = 0) -> tuple[dict[str, list[str]], int]:
    """Columns anchor/positive[/negative_1..n], one row per (query, positive).

    Rows must be equally wide: an example with fewer mined negatives than asked for (the false-negative guard
    can leave none) is topped up with random texts from the other examples' negatives and positives, i.e.
    ordinary random negatives. Returns (columns, number of filled-in negatives)."""
    import random

    rng = random.Random(seed)
    columns: dict[str, list[str]] = {"anchor": [], "positive": []}
    for n in range(negatives):
        columns[f"negative_{n + 1}"] = []
    fillers = list(dict.fromkeys(t for ex in examples for t in (*ex.neg, *ex.pos)))
    filled = 0
    for ex in examples:
        own = set(ex.pos) | {ex.query}
        negs = list(ex.neg[:negatives])
        while len(negs) < negatives and len(fillers) > len(own) + len(negs):
            candidate = rng.choice(fillers)
            if candidate not in own and candidate not in negs:
                negs.append(candidate)
                filled += 1
        if len(negs) < negatives:
            raise ValueError(f"not enough distinct texts to give every query {negatives} negatives; use fewer")
        for pos in ex.pos:
            columns["anchor"].append(ex.query)
            columns["positive"].append(pos)
            for n in range(negatives):
                columns[f"negative_{n + 1}"].append(negs[n])
    return columns, filled


def finetune(base: str, examples: list[TrainingExample], output: str | Path,
             settings: TrainSettings | None = None) -> TrainResult:
    """Train from `base` (spec or folder) on the examples and save the model to `output`."""
    from datasets import Dataset as HFDataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers.trainer_callback import PrinterCallback

    settings = settings or TrainSettings()
    if not examples:
        raise ValueError("no training examples")
    # Without mined negatives anywhere, in-batch negatives alone are the standard recipe.
    negatives = settings.negatives if any(ex.neg for ex in examples) else 0
    columns, filled = training_rows(examples, negatives, settings.seed)
    rows = len(columns["anchor"])
    if rows < 2:
        raise ValueError("need at least 2 (query, positive) pairs: the loss contrasts each pair with the rest of the batch")
    batch_size = min(settings.batch_size, rows)

    model = SentenceTransformer(resolve_model_path(base), device=settings.device)
    model.max_seq_length = settings.max_seq_length
    loss = MultipleNegativesRankingLoss(model)
    for name in ("transformers", "sentence_transformers", "accelerate"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="embedscope-train-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps,
            per_device_train_batch_size=batch_size,
            learning_rate=settings.learning_rate,
            warmup_ratio=settings.warmup_ratio,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=settings.seed,
            data_seed=settings.seed,
            use_cpu=settings.device == "cpu",
            disable_tqdm=True,
            dataloader_drop_last=False,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=HFDataset.from_dict(columns), loss=loss)
        trainer.remove_callback(PrinterCallback)  # it prints every log line; the losses are returned instead
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        losses = [{"step": int(e["step"]), "loss": float(e["loss"])} for e in trainer.state.log_history if "loss" in e]
        steps = int(trainer.state.global_step)
    output = Path(output)
    model.save(str(output))
    used = vars(settings).copy() | {"negatives": negatives, "batch_size": batch_size,
                                     "filled_negatives": filled}
    return TrainResult(output, steps, rows, losses, seconds, used)
