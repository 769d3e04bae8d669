"""Per-label precision, recall, F1 and support, honouring each row's annotation mask (scikit-learn's metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


def prf(y: np.ndarray, pred: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float, float]:
    """(Weighted) precision, recall and F1 of the positive class; 0.0 where a ratio has nothing to divide by.

    >>> prf(np.array([1, 1, 0, 0]), np.array([True, False, True, False]))
    (0.5, 0.5, 0.5)
    """
    if len(y) == 0:  # scikit-learn refuses empty input; nothing to divide by is 0.0 here, as for zero_division
        return 0.0, 0.0, 0.0
    p, r, f, _ = precision_recall_fscore_support(np.asarray(y, dtype=int), np.asarray(pred, dtype=bool).astype(int),
                                                 average="binary", sample_weight=weights, zero_division=0)
    return float(p), float(r), float(f)


def label_metrics(pred: np.ndarray, y: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        m = mask[:, j].astype(bool)
        if not m.any():
            continue
        p_, y_ = pred[m, j].astype(bool).astype(int), y[m, j].astype(bool).astype(int)
        # Both classes, so that the F1 of the label's absence comes out of the same call.
        precision, recall, f1, _ = precision_recall_fscore_support(y_, p_, labels=[0, 1], zero_division=0)
        # "binary_macro_f1": the mean of the F1 of the label and of its absence, as shared tasks (OLID) report it.
        out[name] = {"precision": round(float(precision[1]), 4), "recall": round(float(recall[1]), 4),
                     "f1": round(float(f1[1]), 4), "binary_macro_f1": round(float(f1.mean()), 4),
                     "support": int(y_.sum()), "predicted": int(p_.sum()), "rows": int(m.sum())}
    return out


def macro_f1(metrics: dict[str, dict[str, float]], names: Sequence[str] | None = None) -> float:
    keys = [k for k in (names or metrics) if k in metrics and metrics[k]["support"] > 0]
    return round(float(np.mean([metrics[k]["f1"] for k in keys])), 4) if keys else 0.0
