"""Per-label precision, recall, F1 and support, honouring each row's annotation mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def label_metrics(pred: np.ndarray, y: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        m = mask[:, j].astype(bool)
        if not m.any():
            continue
        p_, y_ = pred[m, j].astype(bool), y[m, j].astype(bool)
        tp, fp, fn = int(np.sum(p_ & y_)), int(np.sum(p_ & ~y_)), int(np.sum(~p_ & y_))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        tn = int(np.sum(~p_ & ~y_))
        f1_neg = 2 * tn / (2 * tn + fp + fn) if tn + fp + fn else 0.0
        # "binary_macro_f1": the mean of the F1 of the label and of its absence, as shared tasks (OLID) report it.
        out[name] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                     "binary_macro_f1": round((f1 + f1_neg) / 2, 4),
                     "support": int(y_.sum()), "predicted": int(p_.sum()), "rows": int(m.sum())}
    return out


def macro_f1(metrics: dict[str, dict[str, float]], names: Sequence[str] | None = None) -> float:
    keys = [k for k in (names or metrics) if k in metrics and metrics[k]["support"] > 0]
    return round(float(np.mean([metrics[k]["f1"] for k in keys])), 4) if keys else 0.0
