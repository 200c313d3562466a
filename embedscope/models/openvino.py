"""OpenVINO inference on the CPU: fp32, or static int8 (weights and activations) calibrated with NNCF.

Specs:
  openvino:minilm                     the bundled all-MiniLM-L6-v2 (the same ONNX export as onnx:minilm)
  openvino:minilm?quantize=int8       ... quantized after training by NNCF with its transformer preset: int8
                                      matrix products, both of attention's included, with activation ranges
                                      measured on calibration texts; made once and cached
  openvino:PATH                       a sentence-transformers folder (exported on first use), a folder holding
                                      model.onnx + tokenizer.json, or a .onnx / OpenVINO .xml file with
                                      tokenizer=FOLDER
Options: quantize=int8, attention=int8|mixed (mixed: NNCF's own choice, attention's weighted sum of values
in float), precision=f32|bf16 (what runs in float: f32 by default, so OpenVINO does not silently switch to
bf16 on CPUs with AVX512_BF16 or AMX, its own default there), calibration=PATH (texts to measure activations on: a BEIR folder, a corpus table
.jsonl/.csv/.parquet with a `text` column, or a .txt file with one text per line; default: built-in English
paragraphs), calibration_size=N (default 300), threads=N, batch_size=N (default 8), tokenizer=FOLDER,
pooling=..., normalize=..., max_seq_length=N, sort_by_length=false, query_prompt=..., document_prompt=..., name=...

Static int8 quantizes activations with ranges fixed ahead of time, so nothing is measured per batch: on
CPUs with AVX-512 VNNI or AMX this is where the speed comes from. The default calibration texts come from
Python's own documentation (shipped with every Python), so the quantized model, and therefore its cached
vectors, do not depend on which corpus happened to be encoded first. Calibrating on your own corpus
(`calibration=`) makes a different model with its own fingerprint.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
from pathlib import Path

import numpy as np

from embedscope.models import register
from embedscope.models.base import folder_fingerprint
from embedscope.models.onnx import onnx_cache_dir, resolve_source
from embedscope.models.tokenized import TokenizedEncoder

CALIBRATION_SIZE = 300
CALIBRATION_WORDS = 200  # about a full 256-token window for English
ATTENTION = ("int8", "mixed")
PRECISIONS = ("f32", "bf16")


def builtin_calibration_texts() -> list[str]:
    """Passages of English prose from the Python documentation that ships with Python (pydoc_data).

    Consecutive prose paragraphs of a topic are joined into passages of at least CALIBRATION_WORDS words, so
    that calibration also sees long inputs: activation ranges measured on short texts alone would clip
    the later positions of documents that fill the model's window.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions split pydoc_data out of the standard library
        raise ValueError("no built-in calibration texts (pydoc_data is missing): pass calibration=PATH") from None
    passages = []
    for key in sorted(topics):
        words: list[str] = []
        for paragraph in topics[key].split("\n\n"):
            if paragraph.startswith(" "):  # indented: code samples and grammar rules, not prose
                continue
            words += paragraph.split()
            if len(words) >= CALIBRATION_WORDS:
                passages.append(" ".join(words))
                words = []
    return passages


def read_calibration_texts(source: str | Path) -> list[str]:
    """Texts from a BEIR folder, a corpus table, or a .txt file with one text per line."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ValueError(f"calibration={source}: no such file or folder")
    if path.is_dir():
        from embedscope.data.beir import _find, read_corpus_jsonl

        return [d.full_text for d in read_corpus_jsonl(_find(path, "corpus")).values()]
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    from embedscope.data.tables import read_corpus_table

    return [d.full_text for d in read_corpus_table(path).values()]


def calibration_sample(source: str | Path | None, size: int) -> list[str]:
    texts = builtin_calibration_texts() if source is None else read_calibration_texts(source)
    if not texts:
        raise ValueError(f"calibration={source}: no texts")
    return random.Random(0).sample(texts, size) if len(texts) > size else texts


@contextlib.contextmanager
def attention_values_quantized():
    """Lift, for the calls inside, NNCF's rule that keeps softmax(QKᵀ)·V in float.

    NNCF's transformer preset leaves that product unquantized to be safe on every transformer (its
    MULTIHEAD_ATTENTION_OUTPUT ignored pattern). In an encoder filling a 256-token window it is a large share
    of the attention time, and OpenVINO only runs attention all in int8 when both of its products are:
    for MiniLM on full SciFact, quantizing it made encoding 8% faster, at nDCG@10 0.06% below PyTorch's
    (benchmarks/encode_speed.py --all), and the tests keep quality bounds on it. NNCF has no public switch
    for one ignored pattern, so the rule is swapped for an empty pattern in its registry and put back after.
    """
    import nncf

    try:
        from nncf.common.graph.patterns import GraphPattern
        from nncf.common.graph.patterns.patterns import IgnoredPatternNames
        from nncf.openvino.quantization.ignored_patterns import OPENVINO_IGNORED_PATTERNS

        rules = OPENVINO_IGNORED_PATTERNS.registry_dict
        name = IgnoredPatternNames.MULTIHEAD_ATTENTION_OUTPUT
        kept = rules[name]
    except (ImportError, AttributeError, KeyError) as missing:
        raise RuntimeError(f"NNCF {nncf.__version__} keeps its attention rule elsewhere ({missing}): "
                           "pass attention=mixed for NNCF's own placement") from None
    rules[name] = GraphPattern
    try:
        yield
    finally:
        rules[name] = kept


def quantize_static_int8(model, target: Path, feeds: list[dict[str, np.ndarray]], attention: str = "int8") -> Path:
    """NNCF post-training quantization of an OpenVINO model with the transformer preset, written atomically as IR.

    attention="int8" also quantizes attention's weighted sum of values; "mixed" keeps NNCF's placement.
    """
    import nncf
    import openvino as ov

    with attention_values_quantized() if attention == "int8" else contextlib.nullcontext():
        quantized = nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(feeds))
    tmp = target.with_name(f".{target.stem}.tmp.xml")
    # fp16 compression would also round the fp32 parts (embeddings, layer norms) for no speed: keep them
    ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
    os.replace(tmp, target)  # the .xml last: its presence means both files are whole
    return target


class OpenVinoEmbedder(TokenizedEncoder):
    """An encoder compiled by OpenVINO for this CPU, with the model's own tokenizer, pooling and normalization."""

    runtime = "openvino"

    def __init__(self, model_file: str | Path, tokenizer: str | Path, threads: int | None = None,
                 precision: str = "f32", **options):
        import openvino as ov

        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision}: use f32 or bf16")
        super().__init__(model_file, tokenizer, **options)
        self.precision = precision
        # OpenVINO's CPU plugin runs float parts in bf16 by default where the CPU has AVX512_BF16 or AMX: vectors
        # that are then no longer PyTorch's. f32 unless asked.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        core = ov.Core()
        model = core.read_model(str(self.model_file))
        self._dim = int(model.outputs[0].get_partial_shape()[-1].get_length())
        self.pooled_in_graph = self.pooling in ("mean", "cls") and any(
            p.get_friendly_name() == "attention_mask" for p in model.get_parameters())
        if self.pooled_in_graph:
            model = with_pooling(model, self.pooling)
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request: calls from several threads take turns
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]

    def fingerprint(self) -> str:
        # an IR keeps its weights in the .bin beside the .xml
        weights = self.model_file.with_suffix(".bin")
        precision = () if self.precision == "f32" else (self.precision,)  # f32 keeps the fingerprints it always had
        return folder_fingerprint(self.model_file, super().fingerprint(),
                                  folder_fingerprint(weights) if weights.exists() else None, *precision)

    def parameter_count(self) -> int:
        """Weights in the model: float and int8 constants (not the int64 shape constants of the graph)."""
        import openvino as ov

        weight_types = {ov.Type.f32, ov.Type.f16, ov.Type.bf16, ov.Type.i8, ov.Type.u8}
        model = ov.Core().read_model(str(self.model_file))
        sizes = (int(np.prod(op.get_output_shape(0))) for op in model.get_ops()
                 if op.get_type_name() == "Constant" and op.get_output_element_type(0) in weight_types)
        return sum(n for n in sizes if n > 1)  # scalars are scales and zero points, not weights

    def _forward(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        with self.lock:
            self.request.infer(feed)
            return self.request.get_output_tensor(0).data.copy()  # a copy: the request reuses its output buffer

    def _embed_batch(self, feed: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        return self._forward(feed) if self.pooled_in_graph else super()._embed_batch(feed, mask)


def with_pooling(model, mode: str):
    """The model with mean or CLS pooling appended, so OpenVINO fuses it and returns (batch, dim) vectors:
    ~5% faster than pooling the (batch, length, dim) output in NumPy, which OpenVINO must first write out."""
    import openvino as ov
    import openvino.opset13 as ops

    hidden = model.get_results()[0].input_value(0)
    if mode == "cls":
        pooled = ops.gather(hidden, ops.constant(np.int64(0)), ops.constant(np.int64(1)))
    else:
        mask = next(p for p in model.get_parameters() if p.get_friendly_name() == "attention_mask")
        weights = ops.unsqueeze(ops.convert(mask, ov.Type.f32), ops.constant(np.array([-1], dtype=np.int64)))
        axis = ops.constant(np.array([1], dtype=np.int64))
        total = ops.reduce_sum(ops.multiply(hidden, weights), axis)
        count = ops.maximum(ops.reduce_sum(weights, axis), ops.constant(np.float32(1e-9)))
        pooled = ops.divide(total, count)
    return ov.Model([pooled], model.get_parameters(), "pooled")


def int8_target(source: Path, texts: list[str], attention: str = "int8", **options) -> Path:
    """Where the static-int8 IR of `source` calibrated on `texts` lives (it may not exist yet)."""
    from importlib.metadata import version

    # the model depends on the calibration texts, on how they are fed (prompt, truncation) and on what is quantized
    texts_key = hashlib.blake2b(repr((texts, sorted(options.items()), attention)).encode(), digest_size=8).hexdigest()
    weights = source.with_suffix(".bin")  # an IR source keeps its weights beside the .xml
    folder = onnx_cache_dir() / folder_fingerprint(source, "openvino-int8", version("nncf"),
                                                   folder_fingerprint(weights) if weights.exists() else None)
    return folder / f"model.int8-nncf-{texts_key}.xml"  # the name records the calibration set and placement


def prepared_int8(source: Path, tokenizer_dir: Path, texts: list[str], attention: str = "int8", **options) -> Path:
    """The static-int8 IR for an fp32 model, calibration texts and an attention placement, made on first use and cached."""
    import openvino as ov
    from filelock import FileLock

    target = int8_target(source, texts, attention, **options)
    folder = target.parent
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        if not target.exists():
            # calibration texts go in as the model will see documents: same tokenizer, prompt and truncation
            model = ov.Core().read_model(str(source))
            tokenize = TokenizedEncoder(source, tokenizer_dir, **options)
            tokenize.input_names = [port.get_any_name() for port in model.inputs]
            prompt = tokenize.document_prompt or ""
            feeds = [tokenize.feeds([e])[0] for e in tokenize.tokenizer.encode_batch_fast([prompt + t for t in texts])]
            quantize_static_int8(model, target, feeds, attention)
    return target


@register("openvino")
def _openvino(target: str | None = None, quantize: str | None = None, tokenizer: str | None = None,
              calibration: str | None = None, calibration_size: int = CALIBRATION_SIZE, attention: str = "int8",
              **options):
    model_file, tokenizer_dir, name = resolve_source("openvino", target, tokenizer, suffixes=(".onnx", ".xml"))
    if name:
        suffix = (f"-{quantize}" if quantize else "") + ("-mixed-attention" if attention == "mixed" else "")
        suffix += f"-{options['precision']}" if options.get("precision", "f32") != "f32" else ""
        options.setdefault("name", f"{name}-openvino{suffix}")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize={quantize}: only int8 is supported")
    if (calibration is not None or attention != "int8") and not quantize:
        raise ValueError("calibration= and attention= only apply with quantize=int8")
    if attention not in ATTENTION:
        raise ValueError(f"attention={attention}: use int8 (both attention products) or mixed (NNCF's default)")
    if quantize:
        settings = {k: options[k] for k in ("pooling", "max_seq_length", "document_prompt") if k in options}
        texts = calibration_sample(calibration, int(calibration_size))
        model_file = prepared_int8(model_file, tokenizer_dir, texts, attention, **settings)
    return OpenVinoEmbedder(model_file, tokenizer=tokenizer_dir, quantized=quantize, **options)
