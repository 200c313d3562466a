"""embedscope beside BEIR on the same job: SciFact and NFCorpus test queries, all-MiniLM-L6-v2, exact cosine search.

BEIR runs its own way (GenericDataLoader, models.SentenceBERT, DenseRetrievalExactSearch, EvaluateRetrieval), in a
fresh process; "cold" is that process's wall time, imports and model loading included. embedscope runs
`embedscope run -m minilm` in fresh processes, each dataset with its own empty embedding cache and its own empty
runtime folder (EMBEDSCOPE_ONNX_DIR: exports, int8 models, runtime records), so every cold figure includes what a
first use on this machine pays:

- default cold: the faithful runtime chosen on a sample of the data (ONNX export, the check against PyTorch),
  then the whole run;
- fast cold: `--fast`, calibrating int8 on the data's documents and measuring its loss on a sample, then the run;
- warm: the default run again with every vector cached.

nDCG@10 comes from each tool's own evaluation. The default run must agree with BEIR to 1e-4 (BEIR's
ignore_identical_ids is off: SciFact's query and document ids share one number space, and neither MTEB's score nor
embedscope drops a document for having its query's id); --fast's loss is relative to that fp32 score. Each
embedscope row's profile (runtime set-up, tokenization, forward passes, cache writes, search, the rest) comes from
its results.json. The default run's forward passes are then put in GFLOP/s (MiniLM's operations over the texts it
encoded) beside BEIR's whole run and a bare float32 matrix product of MiniLM's largest shape through NumPy on this
CPU: how close a faithful fp32 run is to the arithmetic the CPU has.

    .venv/bin/pip install -e ".[peers]"          # BEIR, only for this benchmark
    .venv/bin/python benchmarks/peers.py [--dataset scifact|nfcorpus] [--batch-size 64] [--beir-warm]
                                         [--max-queries N --max-docs N]   # a subset, read by both tools

Datasets are read by name through the data cache (`embedscope datasets add scifact FOLDER` offline). Ratios are
"how many times faster than BEIR cold" (BEIR's seconds / ours). The last lines are machine-readable, one per
figure, per dataset (`RATIO default_cold_vs_beir_cold_scifact 1.52`), then over the datasets run: the unsuffixed
RATIO lines are the lowest of them (a target must hold on each), `LOSS fast_ndcg10_pct_<dataset>` is --fast's
relative nDCG@10 loss in percent against the default (fp32) run, `GFLOPS <row>_<dataset>` the rates above.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DATASETS = ("scifact", "nfcorpus")
# embedscope rows: (name, extra `embedscope run` arguments). "default" is `-m minilm` as shipped; "warm" repeats it.
ROWS: list[tuple[str, list[str]]] = [("default", []), ("fast", ["--fast"]), ("warm", [])]
AGREE = 1e-4

BEIR_SCRIPT = textwrap.dedent("""
    import json, sys, time
    started = time.perf_counter()
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval import models
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch as DRES
    folder, model_path, batch_size, passes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    corpus, queries, qrels = GenericDataLoader(data_folder=folder).load(split="test")
    search = DRES(models.SentenceBERT(model_path), batch_size=batch_size, show_progress_bar=False)
    retriever = EvaluateRetrieval(search, score_function="cos_sim", k_values=[10, 100])
    times, ndcgs = [], []
    for _ in range(passes):
        t = time.perf_counter()
        results = retriever.retrieve(corpus, queries)
        ndcg, _map, recall, precision = retriever.evaluate(qrels, results, [10], ignore_identical_ids=False)
        times.append(time.perf_counter() - t)
        ndcgs.append(ndcg["NDCG@10"])
    print(json.dumps({"times": times, "ndcgs": ndcgs, "in_process_s": time.perf_counter() - started}))
""")


def beir_readable(folder: Path, work: Path) -> Path:
    """BEIR's GenericDataLoader reads corpus.jsonl only: a copy with the corpus unzipped when it is gzipped
    (made before any timing)."""
    if (folder / "corpus.jsonl").exists():
        return folder
    copy = work / "beir-data"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("corpus.jsonl.gz"))
    with gzip.open(folder / "corpus.jsonl.gz", "rb") as src, open(copy / "corpus.jsonl", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return copy


def subset(folder: Path, work: Path, max_queries: int | None, max_docs: int | None) -> Path:
    """A BEIR folder both tools read: up to max_queries test queries (fixed seed), every document judged for
    them, then other documents to max_docs. Made before any timing; the whole set without limits."""
    import random

    rng = random.Random(0)
    qrels: dict[str, dict[str, str]] = {}
    lines = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        qid, did, grade = line.strip().split("\t")[:3]
        qrels.setdefault(qid, {})[did] = grade
    opener = gzip.open if (folder / "corpus.jsonl.gz").exists() else open
    with opener(folder / ("corpus.jsonl.gz" if opener is gzip.open else "corpus.jsonl"), "rt", encoding="utf-8") as f:
        corpus = [line for line in f if line.strip()]
    qids = sorted(qrels)
    qids = sorted(rng.sample(qids, min(max_queries or len(qids), len(qids))))
    judged = {d for q in qids for d in qrels[q]}
    ids = [json.loads(line)["_id"] for line in corpus]
    others = [i for i, d in enumerate(ids) if d not in judged]
    room = max(0, (max_docs or len(ids)) - len(ids) + len(others))
    keep = {i for i, d in enumerate(ids) if d in judged} | set(rng.sample(others, min(room, len(others))))
    out = work / "data"
    (out / "qrels").mkdir(parents=True)
    (out / "corpus.jsonl").write_text("".join(corpus[i] for i in sorted(keep)), encoding="utf-8")
    wanted = set(qids)
    queries = [line for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip() and json.loads(line)["_id"] in wanted]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q in qids for d, g in qrels[q].items()), encoding="utf-8")
    return out


def run_beir(folder: Path, model_path: Path, batch_size: int, warm: bool) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", BEIR_SCRIPT, str(folder), str(model_path), str(batch_size),
                             str(2 if warm else 1)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"BEIR failed:\n{result.stderr[-3000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Cold: the whole first pass as a user lives it (imports, loading, encoding, search, evaluation), i.e. the
    # process's wall time without a second pass. BEIR keeps no embeddings: its second pass encodes again.
    out["cold_s"] = wall - sum(out["times"][1:])
    out["ndcg"] = out["ndcgs"][0]
    return out


def run_embedscope(dataset: str, extra: list[str], cache: Path, runtimes: Path, work: Path) -> dict:
    runs = work / "runs"
    command = [sys.executable, "-m", "embedscope", "run", "--data", dataset, "-m", "minilm", "--cache", str(cache),
               "-o", str(runs), *extra]
    env = {**os.environ, "EMBEDSCOPE_ONNX_DIR": str(runtimes)}
    before = set(runs.iterdir()) if runs.exists() else set()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"embedscope failed:\n{result.stderr[-3000:]}")
    (run_dir,) = set(runs.iterdir()) - before
    model = json.loads((run_dir / "results.json").read_text())["models"][0]
    return {"seconds": seconds, "ndcg": model["metrics"]["ndcg@10"], "info": model["info"], "run": model["run"],
            "log": [line for line in result.stderr.splitlines() if "runtime" in line or "--fast" in line
                    or "faithful" in line or "PyTorch" in line]}


def profile(row: dict) -> dict:
    """Where a run's wall time went, from its results.json: runtime set-up (check, export, calibration, loss
    sample), tokenization and forward passes (embedscope's runtimes; PyTorch's encode counts as forward), cache
    writes (on a background thread: only the wait blocks encoding), index build and search, and the rest
    (interpreter start, imports, reading the data, evaluation, writing the run directory)."""
    info, run = row["info"], row["run"]
    timings = info.get("timings") or {}
    embedding = run.get("embedding") or {}
    encode = sum((embedding.get(role) or {}).get("encode_seconds", 0.0) for role in ("documents", "queries"))
    written = sum((embedding.get(role) or {}).get("write_seconds", 0.0) for role in ("documents", "queries"))
    waited = sum((embedding.get(role) or {}).get("write_wait_seconds", 0.0) for role in ("documents", "queries"))
    tokenize = timings.get("tokenize_seconds", 0.0)
    forward = encode - tokenize if encode else 0.0
    search = sum(run.get(key, 0.0) for key in ("build_seconds", "search_seconds"))
    setup = timings.get("runtime_choice_seconds", 0.0)
    busy = setup + encode + waited + search
    return {"setup": setup, "tokenize": tokenize, "forward": forward, "writes": written, "write_wait": waited,
            "search": search, "other": max(0.0, row["seconds"] - busy), "wall": row["seconds"]}


def minilm_shape() -> dict:
    """What MiniLM's arithmetic depends on, as its folder declares it: layers, width, feed-forward width and the
    window texts are cut to (sentence-transformers' max_seq_length)."""
    from transformers import AutoConfig

    from embedscope.models.sentence_transformers import bundled_minilm_path
    from embedscope.models.st_folder import read_st_settings

    folder = bundled_minilm_path()
    config = AutoConfig.from_pretrained(str(folder))
    return {"folder": folder, "layers": config.num_hidden_layers, "d": config.hidden_size,
            "ff": config.intermediate_size, "window": read_st_settings(folder)["max_seq_length"]}


def forward_flops(data: str, shape: dict) -> tuple[float, float, int]:
    """Floating-point operations of MiniLM's forward passes over the data's distinct documents and queries, each
    cut to the model's window (per token 2 x the weights of every layer's matrix products, per text and layer
    4·n²·d for attention's two products): all of them, those a run encodes after the runtime check (which
    hands the run its sample's vectors), and how many texts that is."""
    from tokenizers import Tokenizer

    from embedscope.data import load_dataset
    from embedscope.models import runtime as rt

    layers, d, ff = shape["layers"], shape["d"], shape["ff"]
    tokenizer = Tokenizer.from_file(str(shape["folder"] / "tokenizer.json"))
    tokenizer.enable_truncation(shape["window"])
    tokenizer.no_padding()
    ds = load_dataset(data)
    texts = sorted(set(ds.doc_texts + ds.query_texts))  # duplicates are encoded once
    checked = set(rt.sample(ds.doc_texts, rt.CHECK_DOCUMENTS)) | set(rt.sample(ds.query_texts, rt.CHECK_QUERIES))
    per_token = 2 * layers * (4 * d * d + 2 * d * ff)
    flops = [per_token * n + 4 * layers * d * n * n for n in (len(e.ids) for e in tokenizer.encode_batch_fast(texts))]
    after_check = [f for f, text in zip(flops, texts) if text not in checked]
    return float(sum(flops)), float(sum(after_check)), len(after_check)


def matmul_peak(shape: dict, seconds: float = 3.0) -> float:
    """GFLOP/s of a float32 matrix product the size of MiniLM's largest, for a batch of 8 full windows (8 x window
    rows of width d, by d x ff), through NumPy's BLAS on every core: what this CPU's fp32 arithmetic gives."""
    import numpy as np

    rows, d, ff = 8 * shape["window"], shape["d"], shape["ff"]
    a = np.random.default_rng(0).random((rows, d), dtype=np.float32)
    b = np.random.default_rng(1).random((d, ff), dtype=np.float32)
    for _ in range(3):
        a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * rows * d * ff * count / (time.perf_counter() - started) / 1e9


def one_dataset(dataset: str, args, work: Path) -> dict:
    from embedscope.data import resolve
    from embedscope.models.sentence_transformers import bundled_minilm_path

    folder = resolve(dataset)
    data = dataset
    if args.max_queries or args.max_docs:  # one subset folder, read by both tools
        folder = data = subset(folder, work / dataset, args.max_queries, args.max_docs)
    docs = sum(1 for _ in open(folder / "corpus.jsonl")) if (folder / "corpus.jsonl").exists() else None
    print(f"\n== {dataset} test, all-MiniLM-L6-v2, exact cosine; data {folder}"
          + (f" ({docs:,} docs)" if docs else ""), flush=True)
    beir = run_beir(beir_readable(folder, work / dataset), bundled_minilm_path(), args.batch_size, args.beir_warm)
    print(f"BEIR cold {beir['cold_s']:.1f} s, nDCG@10 {beir['ndcg']:.4f}", flush=True)
    seconds = {"beir_cold": beir["cold_s"]}
    if args.beir_warm:
        seconds["beir_warm"] = beir["times"][1]
    ndcg = {"beir": beir["ndcg"]}
    cache, runtimes = work / dataset / "cache", work / dataset / "runtimes"  # empty: first use on this machine
    rows = {}
    for name, extra in ROWS:
        row_cache = cache if name in ("default", "warm") else work / dataset / f"cache-{name}"
        rows[name] = run_embedscope(str(data), extra, row_cache, runtimes, work / dataset)
        key = name if name == "warm" else f"{name}_cold"
        seconds[key], ndcg[name] = rows[name]["seconds"], rows[name]["ndcg"]
        print(f"embedscope {key} {seconds[key]:.1f} s, nDCG@10 {ndcg[name]:.4f}, runtime "
              f"{rows[name]['info'].get('runtime') or 'cached'}", flush=True)
        for line in rows[name]["log"]:
            print(f"    {line}", flush=True)
    if abs(ndcg["warm"] - ndcg["default"]) > 1e-12:
        sys.exit("a cached run changed the score")

    base = seconds["beir_cold"]
    print(f"\n{'':16} {'seconds':>9} {'x faster than BEIR cold':>24}")
    for row, s in seconds.items():
        print(f"{row:16} {s:9.2f} {base / s:24.2f}")
    print(f"\n{'':12} {'nDCG@10':>9}")
    for tool, value in ndcg.items():
        print(f"{tool:12} {value:9.4f}")
    agree = abs(ndcg["default"] - ndcg["beir"]) <= AGREE
    loss = (ndcg["default"] - ndcg["fast"]) / ndcg["default"] * 100
    print(f"default nDCG@10 {'agrees' if agree else 'DISAGREES'} with BEIR to {AGREE:g}; --fast loses {loss:.2f}% "
          f"against it")
    choice = (rows["fast"]["info"].get("runtime_choice") or {}).get("fast") or {}
    measured = choice.get("measured")
    if measured:
        print(f"--fast's own estimate before the run ({measured['queries']} queries x {measured['documents']} docs): "
              f"loss {measured['loss']:.2%} (95% CI {measured['low']:.2%} to {measured['high']:.2%})")
    elif choice:
        print(f"--fast kept the faithful runtime: {choice.get('reason', '')}")

    print(f"\nprofile (seconds) {'wall':>7} {'set-up':>7} {'tokenize':>8} {'forward':>8} {'writes*':>8} "
          f"{'wait':>6} {'search':>7} {'other':>6}")
    for name in rows:
        p = profile(rows[name])
        print(f"{name:17} {p['wall']:7.1f} {p['setup']:7.1f} {p['tokenize']:8.1f} {p['forward']:8.1f} "
              f"{p['writes']:8.2f} {p['write_wait']:6.2f} {p['search']:7.2f} {p['other']:6.1f}")
    print("* cache writes run on a background thread beside encoding; only `wait` held the encoder up")
    # The faithfulness check is made once per model and machine (its record is reused by every later run).
    setup = profile(rows["default"])["setup"]
    seconds_after = {"default_cold_after_setup": seconds["default_cold"] - setup}
    print(f"default cold less the one-time runtime check ({setup:.1f} s): {seconds_after['default_cold_after_setup']:.1f} s, "
          f"{base / seconds_after['default_cold_after_setup']:.2f}x BEIR cold")
    # The limit: how close the forward passes run to this CPU's fp32 arithmetic.
    shape = minilm_shape()
    every, flops, texts = forward_flops(str(data), shape)
    forward = profile(rows["default"])["forward"]
    gflops = {"forward_default": flops / forward / 1e9, "beir_whole_run": every / beir["cold_s"] / 1e9,
              "matmul_peak": matmul_peak(shape)}
    print(f"forward passes: {flops / 1e12:.1f} TFLOP over {texts:,} texts in "
          f"{forward:.1f} s = {gflops['forward_default']:.0f} GFLOP/s; BEIR's whole run "
          f"{every / 1e12:.1f} TFLOP in {beir['cold_s']:.1f} s = {gflops['beir_whole_run']:.0f} GFLOP/s; this CPU's "
          f"fp32 matrix product (NumPy) {gflops['matmul_peak']:.0f} GFLOP/s")
    return {"seconds": seconds, "after_setup": seconds_after, "ndcg": ndcg, "agree": agree, "loss": loss,
            "gflops": gflops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, help="one dataset [both]")
    parser.add_argument("--batch-size", type=int, default=64, help="BEIR's encoding batch (embedscope's default)")
    parser.add_argument("--beir-warm", action="store_true",
                        help="also time BEIR's second pass in the same process (it encodes everything again)")
    parser.add_argument("--max-queries", type=int, help="a subset: this many test queries (fixed seed) [all]")
    parser.add_argument("--max-docs", type=int,
                        help="a subset: their judged documents, then others up to this many [all]")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="embedscope-peers-"))
    results = {}
    try:
        for dataset in [args.dataset] if args.dataset else DATASETS:
            (work / dataset).mkdir()
            results[dataset] = one_dataset(dataset, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    for dataset, found in results.items():
        base = found["seconds"]["beir_cold"]
        for row, s in found["seconds"].items():
            print(f"SECONDS {row}_{dataset} {s:.2f}")
        for row, s in {**found["seconds"], **found["after_setup"]}.items():
            if row != "beir_cold":
                print(f"RATIO {row}_vs_beir_cold_{dataset} {base / s:.2f}")
        for tool, value in found["ndcg"].items():
            print(f"NDCG {tool}_{dataset} {value:.4f}")
        print(f"AGREE ndcg_{dataset} {int(found['agree'])}")
        for row, value in found["gflops"].items():
            print(f"GFLOPS {row}_{dataset} {value:.0f}")
    for row in ("default_cold", "fast_cold", "warm"):
        lowest = min(found["seconds"]["beir_cold"] / found["seconds"][row] for found in results.values())
        print(f"RATIO {row}_vs_beir_cold {lowest:.2f}")
    if len(results) == 1:  # one dataset: its figures unsuffixed too
        (found,) = results.values()
        for tool, value in found["ndcg"].items():
            print(f"NDCG {tool} {value:.4f}")
    for dataset, found in results.items():
        print(f"LOSS fast_ndcg10_pct_{dataset} {found['loss']:.2f}")
    if not all(found["agree"] for found in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
