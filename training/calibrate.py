"""Calibration (a temperature per label), thresholds and review bands, all chosen on dev."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises log-loss on dev (a 1-D grid search: robust on small sets)."""
    if len(y) == 0 or y.min() == y.max():
        return 1.0
    best_t, best_loss = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 81)):
        p = np.clip(sigmoid(logits / t), 1e-7, 1 - 1e-7)
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def _prf(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def choose_threshold(probs: np.ndarray, y: np.ndarray, precision_floor: float | None = None) -> float:
    """A best-F1 threshold; with a floor, among thresholds whose precision reaches it (when any does).

    Small dev sets make the single best threshold jumpy, so this takes the middle of the
    plateau of thresholds within 0.01 F1 of the best, kept within [0.1, 0.9].
    """
    if len(y) == 0 or y.sum() == 0:
        return 0.5
    candidates = np.unique(np.clip(np.concatenate([probs, [0.5]]), 0.1, 0.9))
    scored = []
    for t in candidates:
        p, _, f1 = _prf(probs >= t, y)
        scored.append((float(t), f1, precision_floor is None or p >= precision_floor))
    pool = [s for s in scored if s[2]] or scored
    best = max(f1 for _, f1, _ in pool)
    plateau = [t for t, f1, _ in pool if f1 >= best - 0.01]
    return float(np.median(plateau))


def choose_band(probs: np.ndarray, y: np.ndarray, threshold: float, target: float) -> tuple[float, float]:
    """The review band [threshold, high): above ``high`` the comments called positive reach ``target`` precision.

    Scores in the band are positives the model is not sure enough of; they go to a moderator.
    (Below the threshold a comment is decided negative; that costs recall, never precision.)
    """
    high = 1.0
    for t in np.unique(np.concatenate([[threshold], probs[probs >= threshold]])):
        chosen = probs >= t
        if not chosen.any():
            break
        if _prf(chosen, y)[0] >= target:
            high = float(t)
            break
    return round(threshold, 4), round(max(high, threshold), 4)
