"""Which runtime encodes a sentence-transformers model on the CPU, chosen on the user's own texts.

Faithful (the default, `runtime=auto`): the first time a model is used on a machine, a sample of the texts at
hand is encoded by PyTorch (sentence-transformers, the reference) and by embedscope's OpenVINO and ONNX Runtime
fp32 encoders. A runtime is faithful when every sampled text's vector has cosine >= 0.9999 to PyTorch's and at
least 99% of the sampled queries keep the same top-10 among the sampled documents; the fastest faithful runtime
encodes, and PyTorch does when none is faithful or none is faster (the log says which and why). The chosen
runtime's vectors of the sample are handed to the run, which saves them rather than encoding those texts again.
OpenVINO runs with an explicit f32 precision hint: on CPUs with AVX512_BF16 or AMX its default is bf16.

Fast (`runtime=fast`, `embedscope run --fast`): the fastest runtime within a quality budget (0.5% nDCG@10):
OpenVINO static int8 calibrated on the user's documents, and bf16 where the CPU has it. Documents are encoded
by the fast runtime; queries, few and short, by the faithful fp32 one. Each candidate is first timed against
fp32 on a few of the user's documents (one that is not faster is refused there, unmeasured); then the loss of
the faster ones against fp32 is measured on a sample of the user's judged queries and documents and reported
with a bootstrap interval; a candidate over budget is not used.

A choice is recorded as a small JSON file (EMBEDSCOPE_ONNX_DIR/runtimes/) keyed by the model files' fingerprint,
this CPU, the runtime libraries' versions and, for --fast, the sampled texts. A run whose vectors are all cached
reads the record and loads no model.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from embedscope.models.base import text_fingerprint

log = logging.getLogger("embedscope")

FAITHFUL_COSINE = 0.9999
FAITHFUL_TOP10 = 0.99
LOSS_BUDGET = 0.005  # relative nDCG@10 loss --fast may cost
CHECK_DOCUMENTS, CHECK_QUERIES = 64, 32
CALIBRATION_DOCUMENTS = 128
SPEED_DOCUMENTS = 48  # documents a --fast candidate is timed on against fp32 before its loss is measured
FASTER = 1.0  # a candidate must encode faster than fp32 x FASTER to have its loss measured
LOSS_QUERIES, LOSS_DOCUMENTS, LOSS_JUDGED_PER_QUERY = 100, 400, 5
BOOTSTRAP = 2000
MODES = ("auto", "fast", "torch", "openvino", "onnx")
RUNTIME_LIBRARIES = ("torch", "transformers", "sentence-transformers", "openvino", "onnxruntime", "nncf")
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8")


def cpu() -> dict:
    """This CPU as far as encoding speed and numerics go: model, the vector instructions that matter, cores."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the processor name is all there is
        import platform

        model = platform.processor() or model
    return {"model": model, "features": [f for f in CPU_FEATURES if f in flags], "cores": os.cpu_count()}


def has_bf16(machine: dict) -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & set(machine["features"]))


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in RUNTIME_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def records_dir() -> Path:
    from embedscope.models.onnx import onnx_cache_dir

    return onnx_cache_dir() / "runtimes"


def read_record(key: str) -> dict | None:
    path = records_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or unreadable: chosen again
        return None


def write_record(key: str, record: dict) -> None:
    folder = records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, folder / f"{key}.json")


def sample(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """Up to n texts, the same ones every time for the same list, in their order."""
    if len(texts) <= n:
        return list(texts)
    return [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), n))]


def unsupported(folder: Path, device: str | None) -> str | None:
    """Why only PyTorch can encode this model, or None when the ONNX Runtime and OpenVINO encoders can."""
    from embedscope.models.st_folder import POOLING_MODES, _json

    if device not in (None, "cpu"):
        return f"device={device}"
    if device is None and Path("/dev/nvidiactl").exists():
        return "a GPU is present, where PyTorch runs"
    if not folder.is_dir():
        return "a hub name, not a local folder"
    if not (folder / "tokenizer.json").is_file():
        return "no tokenizer.json"
    entries = _json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if not isinstance(entries, list):
        return "no modules.json"
    for entry in entries:
        kind = entry.get("type", "").rsplit(".", 1)[-1]
        if kind not in ("Transformer", "Pooling", "Normalize"):
            return f"its {kind} module"
        if kind == "Pooling":
            config = _json(folder / entry.get("path", "") / "config.json")
            active = [m for m in POOLING_MODES if config.get(f"pooling_mode_{m}")]
            if len(active) != 1 or active[0] not in ("cls_token", "mean_tokens", "max_tokens", "lasttoken"):
                return f"pooling {'+'.join(active) or 'none'}"
    return None


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)


def faithfulness(reference: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]) -> dict:
    """How close a runtime's (documents, queries) vectors are to the reference's: the lowest cosine of any text,
    and the share of queries whose top-10 documents (cosine) are the same set."""

    ref_d, ref_q = (unit(np.asarray(v, np.float32)) for v in reference)
    new_d, new_q = (unit(np.asarray(v, np.float32)) for v in candidate)
    if ref_d.shape != new_d.shape or ref_q.shape != new_q.shape:
        return {"min_cosine": None, "top10_same": 0.0, "passed": False,
                "reason": f"vector shapes differ ({new_d.shape[1:]} against {ref_d.shape[1:]})"}
    cosines = np.concatenate([(ref_d * new_d).sum(1), (ref_q * new_q).sum(1)])
    k = min(10, len(ref_d))
    top = lambda q, d: np.sort(np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :k], axis=1)  # noqa: E731
    same = float(np.mean(np.all(top(ref_q, ref_d) == top(new_q, new_d), axis=1))) if len(ref_q) else 1.0
    passed = float(cosines.min()) >= FAITHFUL_COSINE and same >= FAITHFUL_TOP10
    return {"min_cosine": round(float(cosines.min()), 7), "mean_cosine": round(float(cosines.mean()), 7),
            "top10_same": same, "passed": passed}


def timed_encode(encoder, documents: list[str], queries: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """(document vectors, query vectors, documents per second), after a short warm-up (first-call set-up)."""
    encoder.encode_documents(documents[:4])
    started = time.perf_counter()
    docs = encoder.encode_documents(documents)
    seconds = time.perf_counter() - started
    return np.asarray(docs, np.float32), np.asarray(encoder.encode_queries(queries), np.float32), len(documents) / seconds


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def choose_faithful(model, documents: list[str], queries: list[str], source: str,
                    vectors: dict | None = None) -> dict:
    """Encode a sample with PyTorch and with each fp32 runtime; the record of the fastest faithful one.
    `vectors`, when given, receives each runtime's encoding of the sample, {runtime: {"document": {text: vector},
    "query": {...}}}, so that the chosen runtime need not encode those texts again."""
    docs, qs = sample(documents, CHECK_DOCUMENTS), sample(queries, CHECK_QUERIES)
    record = {"mode": "auto", "runtime": "torch", "precision": "fp32", "cpu": cpu(), "versions": versions(),
              "sample": {"source": source, "documents": len(docs), "queries": len(qs)}, "created": now()}
    why = unsupported(Path(model.path), model.device)
    if why:
        record["reason"] = f"PyTorch only: {why}"
        return record
    started = time.perf_counter()
    ref_d, ref_q, speed = timed_encode(model.torch_encoder(), docs, qs)
    checks = {"torch": {"docs_per_second": round(speed, 1)}}
    sampled = {} if vectors is None else vectors
    sampled["torch"] = {"document": dict(zip(docs, ref_d)), "query": dict(zip(qs, ref_q))}
    for runtime in ("openvino", "onnx"):
        try:
            encoder = model.runtime_encoder(runtime)
            new_d, new_q, speed = timed_encode(encoder, docs, qs)
        except Exception as e:  # an export or a runtime that fails here is not chosen, and the record says why
            checks[runtime] = {"passed": False, "reason": " ".join(f"{type(e).__name__}: {e}".split())[:300]}
            continue
        checks[runtime] = {**faithfulness((ref_d, ref_q), (new_d, new_q)), "docs_per_second": round(speed, 1)}
        sampled[runtime] = {"document": dict(zip(docs, new_d)), "query": dict(zip(qs, new_q))}
    record["check"] = checks
    record["check_seconds"] = round(time.perf_counter() - started, 2)
    faithful = [r for r in ("openvino", "onnx") if checks[r].get("passed")]
    best = max(faithful, key=lambda r: checks[r]["docs_per_second"], default=None)
    unfaithful = [f"{r} fp32 ({describe_check(checks[r])})" for r in ("openvino", "onnx") if not checks[r].get("passed")]
    if best is None:
        record["reason"] = "no faithful runtime: " + "; ".join(unfaithful)
    elif checks[best]["docs_per_second"] <= checks["torch"]["docs_per_second"]:
        record["reason"] = f"{best} fp32 is faithful but not faster than PyTorch here"
    else:
        record["runtime"] = best
    if unfaithful:
        record["unfaithful"] = unfaithful
    return record


def describe_check(check: dict) -> str:
    if check.get("reason") and check.get("min_cosine") is None:
        return check["reason"]
    return (f"min cosine {check['min_cosine']:.6f} (needs {FAITHFUL_COSINE}), same top-10 for "
            f"{check['top10_same']:.0%} of queries (needs {FAITHFUL_TOP10:.0%})")


def loss_sample(dataset) -> tuple[list[str], list[str], list[str], list[str], dict] | None:
    """(doc ids, doc texts, query ids, query texts, qrels) for measuring --fast's loss: up to LOSS_QUERIES judged
    queries, up to LOSS_JUDGED_PER_QUERY of each one's judged documents, filled with others to LOSS_DOCUMENTS.
    None without qrels."""
    if not getattr(dataset, "has_qrels", False):
        return None
    rng = random.Random(0)
    judged = [q for q in dataset.query_ids if any(g > 0 for g in dataset.qrels.get(q, {}).values())]
    qids = sorted(rng.sample(judged, min(LOSS_QUERIES, len(judged))), key=judged.index)
    keep: list[str] = []
    for q in qids:
        docs = sorted(d for d in dataset.qrels[q] if d in dataset.corpus and d not in keep)
        keep += rng.sample(docs, min(LOSS_JUDGED_PER_QUERY, len(docs)))
    kept = set(keep)
    others = [d for d in dataset.doc_ids if d not in kept]
    keep += rng.sample(others, max(0, min(len(others), LOSS_DOCUMENTS - len(keep))))
    kept = set(keep)
    doc_ids = [d for d in dataset.doc_ids if d in kept]
    text = dict(zip(dataset.doc_ids, dataset.doc_texts))
    query_text = dict(zip(dataset.query_ids, dataset.query_texts))
    qrels = {q: {d: g for d, g in dataset.qrels[q].items() if d in kept} for q in qids}
    return doc_ids, [text[d] for d in doc_ids], qids, [query_text[q] for q in qids], qrels


def per_query_ndcg(qrels: dict, qids: list[str], doc_ids: list[str], docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """nDCG@10 of each sample query by cosine over the sample's documents (scikit-learn's ndcg_score: linear gains,
    log2 discount, as pytrec_eval's ndcg_cut_10). The sample is small and the model layer sits below the index and
    metrics layers, so this scores the dense matrix directly."""
    from sklearn.metrics import ndcg_score

    position = {d: i for i, d in enumerate(doc_ids)}
    truth = np.zeros((len(qids), len(doc_ids)))
    for i, q in enumerate(qids):
        for d, grade in qrels.get(q, {}).items():
            if d in position and grade > 0:
                truth[i, position[d]] = grade
    scores = unit(np.asarray(queries, np.float64)) @ unit(np.asarray(docs, np.float64)).T
    k = min(10, len(doc_ids))
    return np.array([ndcg_score(truth[i:i + 1], scores[i:i + 1], k=k) if truth[i].any() else 0.0
                     for i in range(len(qids))])


def relative_loss(reference: np.ndarray, candidate: np.ndarray, seed: int = 0) -> dict:
    """Relative loss of the mean, (ref - new) / ref, with a 95% paired bootstrap interval over queries."""
    ref_mean = float(reference.mean())
    loss = (ref_mean - float(candidate.mean())) / ref_mean if ref_mean > 0 else 0.0
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(reference), size=(BOOTSTRAP, len(reference)))
    ref_sums = reference[picks].sum(1)
    losses = (ref_sums - candidate[picks].sum(1)) / np.where(ref_sums > 0, ref_sums, 1.0)
    low, high = np.percentile(losses, [2.5, 97.5])
    return {"ndcg10_fp32": round(ref_mean, 5), "ndcg10_fast": round(float(candidate.mean()), 5),
            "loss": round(loss, 5), "low": round(float(low), 5), "high": round(float(high), 5),
            "queries": len(reference)}


def describe_loss(measured: dict) -> str:
    if "loss" not in measured:
        return measured.get("note", "loss not measured")
    return (f"nDCG@10 {measured['ndcg10_fast']:.4f} against fp32 {measured['ndcg10_fp32']:.4f} on a sample of "
            f"{measured['queries']} queries × {measured['documents']} documents: loss {measured['loss']:+.2%} "
            f"(95% CI {measured['low']:+.2%} to {measured['high']:+.2%})")


def fast_key_texts(dataset) -> tuple[list[str], tuple | None]:
    """The calibration texts for --fast and what the loss sample is made of (both decide the record)."""
    calibration = sample(dataset.doc_texts, CALIBRATION_DOCUMENTS, seed=1)
    measured = loss_sample(dataset)
    return calibration, (None if measured is None else (measured[0], measured[2]))


def choose_fast(model, faithful_encoder, dataset, calibration: list[str]) -> dict:
    """The fastest candidate within LOSS_BUDGET, measured against the faithful fp32 encoder on a sample."""
    machine = cpu()
    record = {"mode": "fast", "cpu": machine, "versions": versions(), "created": now(),
              "calibration_documents": len(calibration), "query_runtime": model.faithful["runtime"]}
    why = unsupported(Path(model.path), model.device)
    if why:
        return {**record, "runtime": model.faithful["runtime"], "reason": f"no fast runtime: {why}"}
    started = time.perf_counter()
    candidates = [("openvino-int8", {"quantize": "int8", "calibration": calibration})]
    if has_bf16(machine):
        candidates.insert(0, ("openvino-int8-bf16", {"quantize": "int8", "calibration": calibration, "precision": "bf16"}))
        candidates.append(("openvino-bf16", {"precision": "bf16"}))
    measured_on = loss_sample(dataset)
    if measured_on is None:  # no qrels: measured on the documents and queries, as agreement with fp32's top 10
        doc_ids = [str(i) for i in range(min(LOSS_DOCUMENTS, len(dataset.doc_texts)))]
        docs, qids, queries = sample(dataset.doc_texts, LOSS_DOCUMENTS), None, sample(dataset.query_texts, LOSS_QUERIES)
    else:
        doc_ids, docs, qids, queries, qrels = measured_on
    # Speed first, on a few of the sample's documents: a candidate no faster than fp32 here (int8 without VNNI,
    # say) is refused before its loss is measured, which would cost two encodings of the whole sample.
    speed_docs = docs[:SPEED_DOCUMENTS]
    _, _, ref_speed = timed_encode(faithful_encoder, speed_docs, queries[:1])
    tried, encoders = {}, {}
    for name, options in candidates:
        shown = {k: v for k, v in options.items() if k != "calibration"}
        try:
            encoders[name] = model.runtime_encoder("openvino", **options)
            _, _, speed = timed_encode(encoders[name], speed_docs, queries[:1])
        except Exception as e:
            tried[name] = {"reason": " ".join(f"{type(e).__name__}: {e}".split())[:300]}
            continue
        tried[name] = {"docs_per_second": round(speed, 1), "options": shown}
        if speed <= ref_speed * FASTER:
            tried[name]["reason"] = (f"not faster than fp32 on {len(speed_docs)} of your documents "
                                     f"({speed:.1f} against {ref_speed:.1f} docs/s): loss not measured")
    contenders = [n for n, t in tried.items() if "reason" not in t]
    if contenders:
        ref_d, ref_q, _ = timed_encode(faithful_encoder, docs, queries)
        if qids is None:  # fp32's own top 10 are the relevant documents
            qids = [str(i) for i in range(len(queries))]
            top = np.argsort(-(ref_q @ ref_d.T), axis=1)[:, :10]
            qrels = {q: {doc_ids[j]: 1 for j in row} for q, row in zip(qids, top)}
        reference = per_query_ndcg(qrels, qids, doc_ids, ref_d, ref_q)
        for name in contenders:
            new_d = np.asarray(encoders[name].encode_documents(docs), np.float32)
            loss = relative_loss(reference, per_query_ndcg(qrels, qids, doc_ids, new_d, ref_q))
            loss["documents"] = len(docs)
            if measured_on is None:
                loss["note"] = "no qrels: loss of fp32's own top 10"
            tried[name]["measured"] = loss
    record.update(fp32_docs_per_second=round(ref_speed, 1), tried=tried,
                  check_seconds=round(time.perf_counter() - started, 2))
    within = [n for n, t in tried.items() if "measured" in t and t["measured"]["loss"] <= LOSS_BUDGET]
    best = max(within, key=lambda n: tried[n]["docs_per_second"], default=None)
    if best is None:
        reasons = [f"{n}: " + (describe_loss(t["measured"]) if "measured" in t else t["reason"])
                   + (f", {t['docs_per_second']} docs/s against fp32's {ref_speed:.1f}" if "measured" in t else "")
                   for n, t in tried.items()] or ["no candidate for this CPU"]
        return {**record, "runtime": model.faithful["runtime"],
                "reason": f"no fast runtime within {LOSS_BUDGET:.1%} nDCG@10 loss: " + "; ".join(reasons)}
    return {**record, "runtime": best, "options": tried[best]["options"], "measured": tried[best]["measured"]}


def choice_key(*parts: object) -> str:
    return text_fingerprint("runtime-choice", *parts)
