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
    """Best-F1 threshold; with a floor, the best-F1 threshold whose precision reaches it (if any does)."""
    if len(y) == 0 or y.sum() == 0:
        return 0.5
    candidates = np.unique(np.clip(np.concatenate([probs, [0.5]]), 0.05, 0.95))
    best, best_f1, floor_ok = 0.5, -1.0, False
    for t in candidates:
        p, _, f1 = _prf(probs >= t, y)
        meets = precision_floor is None or p >= precision_floor
        if (meets and not floor_ok) or (meets == floor_ok and f1 > best_f1):
            best, best_f1, floor_ok = float(t), f1, meets
    return best


def choose_band(probs: np.ndarray, y: np.ndarray, threshold: float, target: float) -> tuple[float, float]:
    """The narrowest band [low, high) around ``threshold`` outside which decisions are right at ``target``.

    Above ``high`` the comments called positive reach ``target`` precision; below ``low`` the
    comments called negative are negative at ``target`` (few positives missed without review).
    """
    high = threshold
    for t in np.unique(np.concatenate([[threshold], probs[probs >= threshold], [1.0]])):
        chosen = probs >= t
        if not chosen.any() or _prf(chosen, y)[0] >= target:
            high = float(t)
            break
    low = threshold
    for t in sorted(np.unique(np.concatenate([[threshold], probs[probs <= threshold], [0.0]])), reverse=True):
        below = probs < t
        if not below.any() or float(np.mean(y[below] == 0)) >= target:
            low = float(t)
            break
    return round(min(low, threshold), 4), round(max(high, threshold), 4)
