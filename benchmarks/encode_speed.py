"""CPU encode speed: our int8 runtimes (length-sorted batches) vs plain SentenceTransformer.encode, MiniLM on SciFact.

    python benchmarks/encode_speed.py                     # full SciFact corpus (5,183 docs)
    python benchmarks/encode_speed.py --max-docs 500      # quicker look (queries judged on the kept docs)
    python benchmarks/encode_speed.py --all               # also the fp32 runtimes and OpenVINO attention=mixed
    python benchmarks/encode_speed.py --rounds 1          # one timing round instead of three

Every encoder runs in this one process on the same texts with the same thread count, after a warm-up; only
document encoding is timed, tokenization included. The encoders take turns, round after round, and each one's
median time counts: a slow spell of a shared machine then falls on every encoder alike instead of on
whichever ran during it, and the printed range of per-round speed-ups shows how much noise there was. The baseline is SentenceTransformer.encode as a user calls
it (its default batch of 32, which it already sorts by length). Ours run with their own defaults: batches of
8 length-sorted texts; ONNX Runtime with dynamic int8, OpenVINO with static int8 calibrated by NNCF on the
built-in calibration texts (or --calibration). Exporting and quantizing happen once, before timing, as they do
for a user (the files are cached).

Target: >= 3x docs/s at <= 0.5% relative nDCG@10 loss. The script prints the measured ratios and deltas and says
whether the best int8 encoder meets the target; it never asserts. Int8 gains depend on the CPU's int8
dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX), printed at the top.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEED_TARGET = 3.0
NDCG_LOSS_TARGET = 0.005  # relative


def ndcg10(dataset, doc_vectors, query_vectors) -> float:
    from embedscope.index import ExactIndex
    from embedscope.metrics import evaluate
    from embedscope.runs import Run

    index = ExactIndex("cosine")
    index.add(doc_vectors)
    scores, positions = index.search(query_vectors, 10)
    run = Run.from_topk("run", dataset.query_ids, dataset.doc_ids, scores, positions)
    return evaluate(dataset.qrels, run, ["ndcg@10"]).mean["ndcg@10"]


def timed(encode, texts) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    vectors = encode(texts)
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="scifact", help="dataset name or BEIR folder [scifact]")
    parser.add_argument("--max-docs", type=int, help="keep this many docs (judged docs first) for a quicker run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every encoder [all CPUs]")
    parser.add_argument("--st-batch-size", type=int, default=32, help="SentenceTransformer.encode batch [its default]")
    parser.add_argument("--calibration", help="texts for OpenVINO's int8 calibration [built-in English passages]")
    parser.add_argument("--all", action="store_true",
                        help="also time the fp32 ONNX Runtime and OpenVINO models, and OpenVINO int8 with attention=mixed")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds, encoders taking turns [3]")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from embedscope.data import load
    from embedscope.models import load_model
    from embedscope.models.sentence_transformers import bundled_minilm_path
    from embedscope.perf.speed import hardware

    if not Path(args.data).is_dir():
        print(f"SciFact not found at {args.data} (pass --data)", file=sys.stderr)
        return 2
    dataset = load(args.data)
    if args.max_docs:
        dataset = dataset.subset(n_queries=None, n_docs=args.max_docs, seed=0)
    docs, queries = dataset.doc_texts, dataset.query_texts
    torch.set_num_threads(args.threads)
    os.environ.setdefault("EMBEDSCOPE_ONNX_DIR", str(Path(tempfile.gettempdir()) / "embedscope-onnx"))
    machine = hardware()
    print(f"{len(docs):,} docs, {len(queries):,} queries; {args.threads} threads; CPU: {machine.get('cpu_model')}, "
          f"{os.cpu_count()} logical, int8 instructions: {', '.join(machine.get('int8_instructions') or []) or 'none'}")

    st = SentenceTransformer(str(bundled_minilm_path()), device="cpu")
    plain = lambda t: st.encode(t, batch_size=args.st_batch_size, show_progress_bar=False)  # noqa: E731
    encoders = [(f"SentenceTransformer.encode (PyTorch fp32, batch {args.st_batch_size})", plain, plain)]
    calibration = f"&calibration={args.calibration}" if args.calibration else ""
    specs = [("ONNX Runtime fp32", "onnx:minilm"), ("OpenVINO fp32", "openvino:minilm")] if args.all else []
    specs += [("ONNX Runtime int8 (dynamic)", "onnx:minilm?quantize=int8"),
              ("OpenVINO int8 (static, NNCF)", f"openvino:minilm?quantize=int8{calibration}")]
    if args.all:  # NNCF's own placement, attention's weighted sum of values in float: what attention=int8 gains
        specs.append(("OpenVINO int8, float softmax·V", f"openvino:minilm?quantize=int8&attention=mixed{calibration}"))
    for label, spec in specs:
        model = load_model(f"{spec}{'&' if '?' in spec else '?'}threads={args.threads}")  # exports/quantizes once
        encoders.append((f"{label}, batch {model.batch_size}", model.encode_documents, model.encode_queries))
    for _, encode_documents, _ in encoders:
        encode_documents(docs[:32])  # warm-up: first-call allocations and kernel compilation

    times: dict[str, list[float]] = {label: [] for label, _, _ in encoders}
    scores: dict[str, float] = {}
    for round_number in range(1, args.rounds + 1):
        for label, encode_documents, encode_queries in encoders:
            vectors, seconds = timed(encode_documents, docs)
            times[label].append(seconds)
            if label not in scores:
                scores[label] = ndcg10(dataset, vectors, encode_queries(queries))
            print(f"  round {round_number}: {label}: {seconds:.1f} s", flush=True)
    rows = [(label, float(np.median(times[label])), scores[label]) for label, _, _ in encoders]

    base_seconds, base_ndcg = rows[0][1], rows[0][2]
    print(f"\n{'encoder':52} {'docs/s':>9} {'speed-up':>9} {'nDCG@10':>8} {'delta':>8} {'rel.':>7}")
    for label, seconds, score in rows:
        print(f"{label:52} {len(docs) / seconds:9.1f} {base_seconds / seconds:8.2f}x {score:8.4f} "
              f"{score - base_ndcg:+8.4f} {(score - base_ndcg) / base_ndcg:+7.2%}")
    for label, seconds, score in rows[1:]:
        if "int8" not in label:
            continue
        ratio, loss = base_seconds / seconds, (base_ndcg - score) / base_ndcg
        per_round = [b / s for b, s in zip(times[rows[0][0]], times[label])]
        met = ratio >= SPEED_TARGET and loss <= NDCG_LOSS_TARGET
        print(f"{label} vs PyTorch: {ratio:.2f}x docs/s (rounds {min(per_round):.2f}x-{max(per_round):.2f}x), "
              f"nDCG@10 loss {loss:+.2%} (target >= {SPEED_TARGET:g}x at <= {NDCG_LOSS_TARGET:.1%} loss): "
              f"{'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
