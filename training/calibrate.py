"""Calibration (a temperature per label), thresholds and review bands, all chosen on dev.

Dev is a mix of sources (the housing seed comments and the real public sets). Every function
takes optional per-row ``weights``, so that each source counts for its share of the mix
however many rows it has.

Log-loss, precision and F1 come from scikit-learn and the grid search over temperatures from
scipy; what no library does (a precision floor over candidate thresholds, the middle of the
plateau, the review band) is written here.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brute
from sklearn.metrics import log_loss

from model.transformer import sigmoid
from training.metrics import prf

# Weighted precision is a ratio of sums of weights, and each source's rows share one weight, so it often
# equals a target such as 0.95 exactly; the last bits then depend on the order of summation. Comparisons
# allow for that, so that a tie counts as reaching the target whichever library adds up the weights.
TIE = 1e-9


def fit_temperature(logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The temperature that minimises (weighted) log-loss on dev (a 1-D grid search: robust on small sets).

    The grid is 81 temperatures evenly spaced in log between 0.25 and 4; the first best one wins.
    """
    if len(y) == 0 or y.min() == y.max():
        return 1.0

    def loss(log_t: np.ndarray) -> float:
        p = np.clip(sigmoid(logits / np.exp(log_t[0])), 1e-7, 1 - 1e-7)
        return float(log_loss(y, p, sample_weight=weights, labels=[0, 1]))

    best = brute(loss, [(np.log(0.25), np.log(4.0))], Ns=81, finish=None)
    return float(np.exp(best))


def _grid(values: np.ndarray, keep: float, most: int = 400) -> np.ndarray:
    """Candidate cut points: every distinct value (and ``keep``), thinned to ``most`` quantiles on large dev sets."""
    values = np.unique(np.concatenate([values, [keep]]))
    if len(values) > most:
        values = np.unique(np.concatenate([np.quantile(values, np.linspace(0, 1, most)), [keep]]))
    return values


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
    on = np.ones(len(y), dtype=bool) if floor_rows is None else np.asarray(floor_rows, dtype=bool)
    candidates = _grid(np.clip(probs, 0.1, 0.9), 0.5)
    scored = []
    for t in candidates:
        pred = probs >= t
        _, _, f1 = prf(y, pred, weights)
        ok = precision_floor is None or not on.any() or prf(y[on], pred[on])[0] >= precision_floor - TIE
        scored.append((float(t), f1, ok))
    pool = [s for s in scored if s[2]] or scored
    best = max(f1 for _, f1, _ in pool)
    plateau = [t for t, f1, _ in pool if f1 >= best - 0.01 - TIE]
    return float(np.median(plateau))


def choose_band(probs: np.ndarray, y: np.ndarray, threshold: float, target: float,
                weights: np.ndarray | None = None) -> tuple[float, float]:
    """The review band [threshold, high): above ``high`` the comments called positive reach ``target`` precision.

    Scores in the band are positives the model is not sure enough of; they go to a moderator.
    (Below the threshold a comment is decided negative; that costs recall, never precision.)
    """
    high = 1.0
    for t in _grid(probs[probs >= threshold], threshold):
        chosen = probs >= t
        if not chosen.any():
            break
        if prf(y, chosen, weights)[0] >= target - TIE:
            high = float(t)
            break
    return round(threshold, 4), round(max(high, threshold), 4)
