from __future__ import annotations

import numpy as np

from training.calibrate import choose_band, choose_threshold, fit_temperature


def test_temperature_softens_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(float)
    assert 2.4 < fit_temperature(3 * true_logits, y) < 3.6  # three times too sure: the temperature undoes it


def test_threshold_keeps_the_precision_floor_when_it_can() -> None:
    probs = np.array([0.95, 0.9, 0.85, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 0])
    t = choose_threshold(probs, y, precision_floor=0.95)
    chosen = probs >= t
    assert (y[chosen] == 1).mean() >= 0.95


def test_band_starts_at_the_threshold_and_decisions_above_it_meet_the_target() -> None:
    probs = np.linspace(0.01, 0.99, 99)
    y = (probs + np.random.default_rng(1).normal(0, 0.15, 99) > 0.5).astype(float)
    threshold = choose_threshold(probs, y)
    low, high = choose_band(probs, y, threshold, 0.95)
    assert low == round(threshold, 4) and threshold <= high
    above = probs >= high
    assert (y[above] == 1).mean() >= 0.95
