"""The learnt classifier as served: an int8 ONNX encoder with a multi-label head.

Reads everything from its artifact directory (``sift_model.json``): labels, max
length, per-label temperatures, thresholds and review bands. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from model.classifier import MODEL_META_FILE as META_FILE
from model.classifier import ClassifierError
from model.encoding import HeadTailEncoder

KIND = "sift-transformer"

_F = TypeVar("_F", bound=np.floating[Any])


class _Session(Protocol):
    """The part of ``onnxruntime.InferenceSession`` used here (onnxruntime ships no type hints)."""

    def run(self, output_names: list[str], input_feed: dict[str, npt.NDArray[np.int64]]) -> list[npt.NDArray[np.float32]]: ...


def read_meta(model_dir: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClassifierError(f"cannot read {model_dir / META_FILE}: {exc}") from exc
    missing = {"kind", "version", "labels", "max_length", "thresholds", "review_bands", "temperatures"} - set(meta)
    if missing:
        raise ClassifierError(f"{model_dir / META_FILE} lacks {sorted(missing)}")
    return meta


def length_buckets(lengths: Sequence[int], size: int, pad_budget: float) -> list[list[int]]:
    """Indices grouped by similar length: sort, then start a new group when it reaches ``size``
    items or when padding to its longest row would waste more than ``pad_budget`` of the cells.

    >>> length_buckets([5, 40, 6, 41], size=32, pad_budget=0.25)
    [[0, 2], [1, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        n = lengths[i]
        if current and (len(current) >= size or 1.0 - (used + n) / (n * (len(current) + 1)) > pad_budget):
            groups.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        groups.append(current)
    return groups


def sigmoid(x: npt.NDArray[_F]) -> npt.NDArray[_F]:
    # numpy's stubs type a ufunc on a generic float dtype as Any; at run time the input's dtype is kept.
    out: npt.NDArray[_F] = 1.0 / (1.0 + np.exp(-x))
    return out


class OnnxClassifier:
    """Score texts with the artifact's ONNX model (int8 by default).

    >>> clf = OnnxClassifier.from_pretrained(Path("var/models/current"))  # doctest: +SKIP
    >>> clf.predict_proba(["how do I pay my rent?"])[0]["query"] > 0.5  # doctest: +SKIP
    True
    """

    def __init__(self) -> None:
        self._session: _Session | None = None
        self.version = ""
        self.labels: tuple[str, ...] = ()
        self.thresholds: dict[str, float] = {}
        self.review_bands: dict[str, tuple[float, float]] = {}
        self.temperatures: npt.NDArray[np.float32] = np.ones(0, dtype=np.float32)
        self.encoder: HeadTailEncoder | None = None
        self.meta: dict[str, Any] = {}
        self.languages: tuple[str, ...] = ()  # ISO 639-1 codes it was trained for (empty: not recorded)
        self.bucket_size = 32
        self.pad_budget = 0.25

    @classmethod
    def from_pretrained(cls, model_dir: Path, *, onnx_file: str | None = None, threads: int | None = None) -> OnnxClassifier:
        import onnxruntime as ort

        meta = read_meta(model_dir)
        path = model_dir / (onnx_file or meta.get("onnx_file", "model.int8.onnx"))
        if not path.is_file():
            raise ClassifierError(f"{path} is missing; train the model again (`sift train`)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self = cls()
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for corrupt files
            raise ClassifierError(f"onnxruntime cannot load {path}: {exc}") from exc
        self.meta = meta
        self.version = str(meta["version"])
        self.labels = tuple(meta["labels"])
        self.thresholds = {k: float(v) for k, v in meta["thresholds"].items()}
        self.review_bands = {k: (float(v[0]), float(v[1])) for k, v in meta["review_bands"].items()}
        self.temperatures = np.array([float(meta["temperatures"][label]) for label in self.labels], dtype=np.float32)
        try:
            self.encoder = HeadTailEncoder.from_file(model_dir / "tokenizer.json", int(meta["max_length"]),
                                                     str(meta.get("text_normalization", "none")))
        except ValueError as exc:
            raise ClassifierError(f"{model_dir / META_FILE}: {exc}") from exc
        self.languages = tuple(meta.get("languages", ()))
        return self

    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Raw logits, in the order given. Texts are run in length buckets: sorted by token
        count and cut into runs of at most ``bucket`` tokens' padding, so short comments
        are not padded to the longest one in the batch."""
        if self._session is None or self.encoder is None:
            raise ClassifierError("OnnxClassifier used before loading; build it with OnnxClassifier.from_pretrained(path)")
        rows = self.encoder.encode(texts)
        out = np.zeros((len(rows), len(self.labels)), dtype=np.float32)
        for chunk in length_buckets([len(r) for r in rows], self.bucket_size, self.pad_budget):
            ids, mask = self.encoder.pad([rows[i] for i in chunk])
            out[chunk] = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        probs = sigmoid(self.logits(texts) / self.temperatures)
        return [{label: float(p) for label, p in zip(self.labels, row, strict=True)} for row in probs]


def load(model_dir: Path) -> OnnxClassifier:
    return OnnxClassifier.from_pretrained(model_dir)
