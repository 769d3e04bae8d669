"""The contract a learnt classifier meets, shared with the pipeline.

In the manner of scikit-learn and SetFit: a cheap constructor, heavy loading in
``from_pretrained(path)``, and ``predict_proba(texts)`` returning one score per label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

# The metadata file every model artifact carries (version, labels, thresholds, bands, training config).
MODEL_META_FILE: Final = "sift_model.json"


class ClassifierError(RuntimeError):
    """The learnt classifier could not load or could not score a text."""


@runtime_checkable
class Classifier(Protocol):
    """What the pipeline needs from a learnt model."""

    version: str
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    review_bands: dict[str, tuple[float, float]]

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Calibrated scores in [0, 1], one dict per text, keyed by ``labels``."""
        ...
