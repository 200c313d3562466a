"""`embedscope mine` (hard negatives) and `embedscope finetune` (train, then promote only if significantly better)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import click

from embedscope.cli import options

NOT_PROMOTED_EXIT = 3


def _load_split(data: str, split: str, max_queries=None, max_docs=None, seed: int = 0, full: bool = False):
    """The split (a subset when asked), and with full=True the whole split too."""
    from embedscope.data import load

    dataset = load(data, split=split)
    if not dataset.has_qrels:
        raise ValueError(f"{data}: no qrels/{split}.tsv to take queries and positives from")
    subset = dataset.subset(max_queries, max_docs, seed=seed) if (max_queries or max_docs) else dataset
    return (subset, dataset) if full else subset


def _training_examples(train_file, data, train_split, max_train_queries):
    """(examples, candidate corpus or None) from a JSONL file or a BEIR training split."""
    from embedscope.finetune import examples_from_beir, read_training_jsonl

    if train_file:
        return read_training_jsonl(train_file), None
    if not data:
        raise click.UsageError("give training data: --train FILE.jsonl or --data DIR with a --train-split")
    dataset = _load_split(data, train_split)
    examples = examples_from_beir(dataset)
    if max_train_queries and max_train_queries < len(examples):
        import random

        examples = random.Random(0).sample(examples, max_train_queries)
    return examples, dataset.doc_texts


@dataclasses.dataclass
class Mining:
    """How hard negatives are mined."""

    rank_range: str
    num_negatives: int
    margin: float
    sampling: str

    def settings(self, seed: int):
        from embedscope.finetune import MiningSettings
        from embedscope.specs import parse_range

        start, end = parse_range(self.rank_range, "--range")
        return MiningSettings(start, end, self.num_negatives, self.margin, self.sampling, seed)


@dataclasses.dataclass
class Training:
    """How the model is trained."""

    epochs: float
    max_steps: int
    batch_size: int
    learning_rate: float
    max_seq_length: int
    negatives: int
    device: str


@dataclasses.dataclass
class Sources:
    """What the model is trained on and evaluated on."""

    base: str
    train_file: str | None
    train_split: str
    eval_data: str | None
    eval_split: str
    max_train_queries: int | None


@dataclasses.dataclass
class Guard:
    """When the tuned model is promoted."""

    alpha: float
    min_delta: float


def _mine(examples, corpus, model_spec, cache, settings):
    from embedscope.cache import EmbeddingCache
    from embedscope.finetune import mine_hard_negatives
    from embedscope.models import load_model

    model = load_model(model_spec)
    if not hasattr(model, "encode_documents"):
        raise ValueError(f"--mine-model {model_spec}: mining needs a dense embedding model")
    return mine_hard_negatives(examples, corpus, model, EmbeddingCache(cache), settings)


def _mining_options(fn):
    options = [
        click.option("--range", "rank_range", default="2..200", show_default=True,
                     help="Ranks (1-based, inclusive) that negatives are drawn from, START..END."),
        click.option("--num-negatives", type=int, default=7, show_default=True, help="Negatives per query."),
        click.option("--margin", type=float, default=0.95, show_default=True,
                     help="False-negative guard: skip candidates scoring above MARGIN x the weakest positive's score."),
        click.option("--sampling", type=click.Choice(["top", "random"]), default="top", show_default=True,
                     help="top: best-ranked candidates that pass the guard; random: a random sample of them."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@options.command("mine", aliases=(options.Alias("--split", "--train-split"),))
@options.shared("data", "models", "cache", fallback={"models": ["minilm"]})
@click.option("--train-split", "split", default="train", show_default=True,
              help="qrels split whose queries and positives become training examples.")
@click.option("--input", "input_file", type=click.Path(dir_okay=False),
              help="A {query, pos, neg} JSONL instead; candidates are --data's corpus or else every text in the file.")
@_mining_options
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="JSONL file to write.")
@options.gather("mining", Mining)
def mine_command(settings, split, input_file, seed, output, mining):
    """Mine hard negatives and write {query, pos, neg} JSONL training data.

    The --model ranks the candidates: --data's corpus (its --train-split qrels give the positives).
    """
    from embedscope.finetune import examples_from_beir, read_training_jsonl, write_training_jsonl

    data = settings["data"] if "data" in settings["named"] else None
    model_spec, cache = options.one_model(settings, "mine"), settings["cache"]
    if input_file:
        examples = read_training_jsonl(input_file)
        corpus = _load_corpus(data) if data else None
    elif data:
        dataset = _load_split(data, split)
        examples, corpus = examples_from_beir(dataset), dataset.doc_texts
    else:
        raise click.UsageError("give --data DIR (BEIR folder) or --input FILE.jsonl")
    mined, stats = _mine(examples, corpus, model_spec, cache, mining.settings(seed))
    write_training_jsonl(mined, output)
    _echo_mining(stats)
    click.echo(f"{len(mined)} examples -> {output}")
    return stats


def _load_corpus(data: str) -> list[str]:
    from embedscope.cli.generate import read_corpus

    return [doc.full_text for doc in read_corpus(data, None).values()]


def _echo_mining(stats: dict) -> None:
    click.echo(f"mined {stats['negatives']} negatives for {stats['examples']} queries "
               f"(skipped {stats['skipped_positive']} positives, {stats['skipped_margin']} over the margin; "
               f"{stats['short']} queries got fewer than asked)", err=True)


@options.command("finetune")
@options.shared("data", "max_queries", "max_docs", "metrics", "cache")
@click.option("--base", default="minilm", show_default=True, help="Model to start from: spec (minilm, st:PATH) or folder.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False), help="Training data: {query, pos, neg} JSONL.")
@click.option("--train-split", default="train", show_default=True)
@click.option("--eval-data", help="BEIR folder for the held-out evaluation [--data].")
@click.option("--eval-split", default="test", show_default=True)
@click.option("--max-train-queries", type=int, help="Train on a sample of this many queries.")
@click.option("--mine/--no-mine", "do_mine", default=True, show_default=True, help="Mine hard negatives with the base model first.")
@_mining_options
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--max-steps", type=int, default=-1, show_default=True, help="Stop after this many steps (> 0).")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--lr", "learning_rate", type=float, default=2e-5, show_default=True)
@click.option("--max-seq-length", type=int, default=256, show_default=True)
@click.option("--negatives", type=int, default=1, show_default=True, help="Hard negatives per training row.")
@click.option("--device", default="cpu", show_default=True, help="Training device (cpu, cuda).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level of both paired tests.")
@click.option("--min-delta", type=float, default=0.0, show_default=True, help="Smallest improvement worth promoting.")
@click.option("--compare", "compare_pair", nargs=2, metavar="BASE TUNED",
              help="Skip training: put two existing models (specs or folders) through the same guard.")
@click.option("--output", "-o", required=True, help="Folder for report.json, candidate/ and (if promoted) model/.")
@options.gather("sources", Sources)
@options.gather("mining", Mining)
@options.gather("train", Training)
@options.gather("decide", Guard)
def command(settings, sources, do_mine, mining, train, decide, compare_pair, seed, output):
    """Fine-tune a model and promote it only if it is significantly better on held-out queries.

    Training examples come from --train or --data's --train-split; the guard evaluates on --eval-data (or
    --data) at --eval-split, on --max-queries held-out queries and --max-docs documents, and decides on the
    first --metric [ndcg@10]. The tuned model is written to OUTPUT/candidate; it is moved to OUTPUT/model only
    when the guard promotes it. Exit code 0 when promoted, 3 when not (report.json says why).
    """
    from embedscope.finetune import TrainSettings, before_after, finetune, write_training_jsonl

    data = settings["data"] if "data" in settings["named"] else None
    max_queries, max_docs, cache = settings.get("max_queries"), settings.get("max_docs"), settings["cache"]
    base, train_file, train_split, max_train_queries = (sources.base, sources.train_file, sources.train_split,
                                                         sources.max_train_queries)
    eval_data, eval_split = sources.eval_data, sources.eval_split
    guard = {"metric": (settings.get("metrics") or ["ndcg@10"])[0], **dataclasses.asdict(decide)}
    training = TrainSettings(**dataclasses.asdict(train), seed=seed)
    mining = mining.settings(seed)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    log = options.say(settings)
    held_out_folder = eval_data or data
    if not held_out_folder:
        raise click.UsageError("the guard needs held-out judged queries: give --eval-data DIR or --data DIR")
    held_out, whole_split = _load_split(held_out_folder, eval_split, max_queries, max_docs, seed=seed, full=True)
    report: dict = {}
    if compare_pair:
        base_spec, tuned_spec = (_as_spec(spec) for spec in compare_pair)
    else:
        examples, corpus = _training_examples(train_file, data, train_split, max_train_queries)
        examples, leaked = _drop_leaked(examples, whole_split)
        if leaked:
            log(f"left out {leaked} training queries that also appear in the held-out split")
        report["left_out_held_out_queries"] = leaked
        if do_mine and not any(ex.neg for ex in examples):
            examples, mined = _mine(examples, corpus, _as_spec(base), cache, mining)
            write_training_jsonl(examples, output / "train-mined.jsonl")
            _echo_mining(mined)
            report["mining"] = mined
        candidate = output / "candidate"
        log(f"training {base} on {len(examples)} queries ({training.device})")
        trained = finetune(base, examples, candidate, training)
        log(f"{trained.steps} steps in {trained.seconds:.0f}s, loss {trained.first_loss:.4f} -> {trained.last_loss:.4f}")
        report["training"] = {"base": base, "rows": trained.rows, "steps": trained.steps, "seconds": trained.seconds,
                              "losses": trained.losses, "settings": trained.settings}
        base_spec, tuned_spec = base, f"st:{candidate}?name=tuned&max_seq_length={training.max_seq_length}"
        if Path(base).is_dir() or base.startswith(("minilm", "st:", "sentence-transformers:")):
            base_spec = _with_length(base, training.max_seq_length)
    result = before_after(held_out, base_spec, tuned_spec, **guard, cache_dir=cache, log=log)
    report.update(result)
    if report["promoted"] and not compare_pair:
        model_dir = output / "model"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        (output / "candidate").rename(model_dir)
        report["model_path"] = str(model_dir)
    (output / "report.json").write_text(json.dumps(report, indent=2, default=str))
    _echo_guard(report)
    if not report["promoted"]:
        # SystemExit, not click's Exit: the latter becomes a return value under standalone_mode=False.
        sys.exit(NOT_PROMOTED_EXIT)
    return report


def _as_spec(spec: str) -> str:
    """A model folder becomes an `st:` spec; anything else is already a spec."""
    return f"st:{spec}?name={Path(spec).name}" if Path(spec).is_dir() else spec


def _with_length(spec: str, max_seq_length: int) -> str:
    """The base evaluated at the length the candidate was trained with, so the comparison is like for like."""
    spec = _as_spec(spec)
    return f"{spec}{'&' if '?' in spec else '?'}max_seq_length={max_seq_length}"


def _drop_leaked(examples, held_out):
    """Training queries that also appear in the held-out split (same text) are left out of training: learning
    them would make the guard's before/after comparison flattering. Returns (kept, number dropped)."""
    held = {text.strip().lower() for text in held_out.query_texts}
    kept = [ex for ex in examples if ex.query.strip().lower() not in held]
    if not kept:
        raise ValueError("every training query also appears in the held-out split; train and evaluate on disjoint queries")
    return kept, len(examples) - len(kept)


def _echo_guard(report: dict) -> None:
    g = report["guard"]
    click.echo(f"{g['metric']} on {g['queries']} held-out queries: {report['base']['name']} {g['before']:.4f} -> "
               f"{report['tuned']['name']} {g['after']:.4f} ({g['delta']:+.4f}; wins/ties/losses "
               f"{g['wins']}/{g['ties']}/{g['losses']}; t-test p={g['p_ttest']:.3g}, permutation p={g['p_permutation']:.3g})")
    state = "true" if report["promoted"] else "false"
    click.secho(f"promoted: {state} — {report['reason']}", fg="green" if report["promoted"] else "yellow")
