"""Calibration (a temperature per label), thresholds and review bands, all chosen on dev.

Dev is a mix of sources (the housing seed comments and the real public sets). Every function
takes optional per-row ``weights``, so that each source counts for its share of the mix
however many rows it has.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _w(y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    return np.ones(len(y), dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)


def fit_temperature(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The temperature that minimises (weighted) log-loss on dev (a 1-D grid search: robust on small sets)."""
    if len(y) == 0 or y.min() == y.max():
        return 1.0
    w = _w(y, weights)
    best_t, best_loss = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 81)):
        p = np.clip(sigmoid(logits / t), 1e-7, 1 - 1e-7)
        loss = -np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum()
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def _grid(values: np.ndarray, keep: float, most: int = 400) -> np.ndarray:
    """Candidate cut points: every distinct value (and ``keep``), thinned to ``most`` quantiles on large dev sets."""
    values = np.unique(np.concatenate([values, [keep]]))
    if len(values) > most:
        values = np.unique(np.concatenate([np.quantile(values, np.linspace(0, 1, most)), [keep]]))
    return values


def _prf(pred: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float, float]:
    w = _w(y, w)
    tp = float(np.sum(w[pred & (y == 1)]))
    fp = float(np.sum(w[pred & (y == 0)]))
    fn = float(np.sum(w[~pred & (y == 1)]))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def choose_threshold(probs: np.ndarray, y: np.ndarray, precision_floor: float | None = None,
                     weights: np.ndarray | None = None, floor_rows: np.ndarray | None = None) -> float:
    """A best-(weighted-)F1 threshold; with a floor, among thresholds whose precision reaches it (when any does).

    ``floor_rows`` (a boolean mask) says on which rows the floor is measured: the housing seed rows,
    labelled to the guide, rather than public sets whose crowd labels are noisier.
    Small dev sets make the single best threshold jumpy, so this takes the middle of the
    plateau of thresholds within 0.01 F1 of the best, kept within [0.1, 0.9].
    """
    if len(y) == 0 or y.sum() == 0:
        return 0.5
    w = _w(y, weights)
    on = np.ones(len(y), dtype=bool) if floor_rows is None else np.asarray(floor_rows, dtype=bool)
    candidates = _grid(np.clip(probs, 0.1, 0.9), 0.5)
    scored = []
    for t in candidates:
        pred = probs >= t
        _, _, f1 = _prf(pred, y, w)
        ok = precision_floor is None or not on.any() or _prf(pred[on], y[on])[0] >= precision_floor
        scored.append((float(t), f1, ok))
    pool = [s for s in scored if s[2]] or scored
    best = max(f1 for _, f1, _ in pool)
    plateau = [t for t, f1, _ in pool if f1 >= best - 0.01]
    return float(np.median(plateau))


def choose_band(probs: np.ndarray, y: np.ndarray, threshold: float, target: float,
                weights: np.ndarray | None = None) -> tuple[float, float]:
    """The review band [threshold, high): above ``high`` the comments called positive reach ``target`` precision.

    Scores in the band are positives the model is not sure enough of; they go to a moderator.
    (Below the threshold a comment is decided negative; that costs recall, never precision.)
    """
    high = 1.0
    w = _w(y, weights)
    for t in _grid(probs[probs >= threshold], threshold):
        chosen = probs >= t
        if not chosen.any():
            break
        if _prf(chosen, y, w)[0] >= target:
            high = float(t)
            break
    return round(threshold, 4), round(max(high, threshold), 4)
