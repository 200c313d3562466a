"""embedscope beside BEIR on the same job: SciFact (or NFCorpus) test queries, all-MiniLM-L6-v2, exact cosine search.

BEIR runs its own way (GenericDataLoader, models.SentenceBERT, DenseRetrievalExactSearch, EvaluateRetrieval), in a
fresh process: "cold" is that process's wall time, imports and model loading included; "warm" is a second
retrieve + evaluate in the same process (BEIR keeps no embeddings, so it encodes again). embedscope runs
`embedscope run -m minilm` in a fresh process with an empty embedding cache ("cold"), then again with the cache
filled ("warm"). Both nDCG@10 come from each tool's own evaluation and must agree to 1e-4 (BEIR's
ignore_identical_ids is off: SciFact's query and document ids share one number space, and neither MTEB's score nor
embedscope drops a document for having its query's id).

    .venv/bin/pip install -e ".[peers]"          # BEIR, only for this benchmark
    .venv/bin/python benchmarks/peers.py [--dataset scifact|nfcorpus] [--batch-size 64]

The dataset is read by name through the data cache (`embedscope datasets add scifact FOLDER` offline).
Ratios are "how many times faster than BEIR cold" (BEIR's seconds / ours). The last lines are machine-readable, one
per figure: `SECONDS <row> s`, `RATIO <row>_vs_beir_cold x`, `NDCG <tool> value`, `AGREE ndcg 1|0`.

More embedscope rows (other encoding settings) are added to ROWS: each is a name and the extra `run` arguments.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DATASETS = ("scifact", "nfcorpus")
# embedscope rows: (name, extra `embedscope run` arguments); "default" is `-m minilm` as shipped.
ROWS: list[tuple[str, list[str]]] = [("default", [])]

BEIR_SCRIPT = textwrap.dedent("""
    import json, sys, time
    started = time.perf_counter()
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval import models
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch as DRES
    folder, model_path, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    corpus, queries, qrels = GenericDataLoader(data_folder=folder).load(split="test")
    search = DRES(models.SentenceBERT(model_path), batch_size=batch_size, show_progress_bar=False)
    retriever = EvaluateRetrieval(search, score_function="cos_sim", k_values=[10, 100])
    times, ndcgs = [], []
    for _ in range(2):
        t = time.perf_counter()
        results = retriever.retrieve(corpus, queries)
        ndcg, _map, recall, precision = retriever.evaluate(qrels, results, [10], ignore_identical_ids=False)
        times.append(time.perf_counter() - t)
        ndcgs.append(ndcg["NDCG@10"])
    print(json.dumps({"first_retrieve_s": times[0], "warm_s": times[1], "ndcg": ndcgs[0], "ndcg_warm": ndcgs[1],
                      "in_process_s": time.perf_counter() - started}))
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


def run_beir(folder: Path, model_path: Path, batch_size: int) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", BEIR_SCRIPT, str(folder), str(model_path), str(batch_size)],
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"BEIR failed:\n{result.stderr[-3000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Cold: the whole first pass as a user lives it (imports, loading, encoding, search, evaluation), i.e. the
    # process's wall time without the second pass.
    out["cold_s"] = wall - out["warm_s"]
    return out


def run_embedscope(dataset: str, extra: list[str], cache: Path, work: Path) -> tuple[float, float]:
    runs = work / "runs"
    command = [sys.executable, "-m", "embedscope", "run", "--data", dataset, "-m", "minilm", "--cache", str(cache),
               "-o", str(runs), "-q", *extra]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"embedscope failed:\n{result.stderr[-3000:]}")
    newest = max(runs.iterdir(), key=lambda p: p.stat().st_mtime)
    results = json.loads((newest / "results.json").read_text())
    return seconds, results["models"][0]["metrics"]["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="scifact")
    parser.add_argument("--batch-size", type=int, default=64, help="BEIR's encoding batch (embedscope's default)")
    args = parser.parse_args()

    from embedscope.data import resolve
    from embedscope.models.sentence_transformers import bundled_minilm_path

    folder = resolve(args.dataset)
    model_path = bundled_minilm_path()
    work = Path(tempfile.mkdtemp(prefix="embedscope-peers-"))
    print(f"{args.dataset} test, all-MiniLM-L6-v2, exact cosine; data {folder}", flush=True)

    beir = run_beir(beir_readable(folder, work), model_path, args.batch_size)
    seconds = {"beir_cold": beir["cold_s"], "beir_warm": beir["warm_s"]}
    ndcg = {"beir": beir["ndcg"]}
    for name, extra in ROWS:
        cache = work / f"cache-{name}"  # empty: the cold run embeds everything
        seconds[f"{name}_cold"], ndcg[f"embedscope_{name}"] = run_embedscope(args.dataset, extra, cache, work)
        warm_s, warm_ndcg = run_embedscope(args.dataset, extra, cache, work)
        seconds["warm" if name == "default" else f"{name}_warm"] = warm_s
        assert abs(warm_ndcg - ndcg[f"embedscope_{name}"]) < 1e-12, "a cached run changed the score"

    base = seconds["beir_cold"]
    print(f"\n{'':16} {'seconds':>9} {'x faster than BEIR cold':>24}")
    for row, s in seconds.items():
        print(f"{row:16} {s:9.2f} {base / s:24.2f}")
    print(f"\n{'':20} {'nDCG@10':>9}")
    for tool, value in ndcg.items():
        print(f"{tool:20} {value:9.4f}")
    agree = all(abs(v - ndcg["beir"]) <= 1e-4 for v in ndcg.values())
    print(f"\nnDCG@10 {'agrees' if agree else 'DISAGREES'} with BEIR to 1e-4 (BEIR warm pass: {beir['ndcg_warm']:.4f})")

    for row, s in seconds.items():
        print(f"SECONDS {row} {s:.2f}")
    for row, s in seconds.items():
        if row != "beir_cold":
            print(f"RATIO {row}_vs_beir_cold {base / s:.2f}")
    for tool, value in ndcg.items():
        print(f"NDCG {tool} {value:.4f}")
    print(f"AGREE ndcg {int(agree)}")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
