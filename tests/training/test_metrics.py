from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import choose_band
from training.metrics import label_metrics, macro_f1, prf


@pytest.mark.parametrize(("y", "pred", "expected"), [
    ([1, 1, 0, 0], [1, 0, 1, 0], (0.5, 0.5, 0.5)),
    ([0, 0, 0, 0], [1, 0, 0, 0], (0.0, 0.0, 0.0)),  # no positives: recall and F1 have nothing to divide by
    ([1, 1, 0, 0], [0, 0, 0, 0], (0.0, 0.0, 0.0)),  # nothing predicted: precision has nothing to divide by
    ([1, 1, 1, 1], [1, 1, 1, 1], (1.0, 1.0, 1.0)),  # all one class
    ([], [], (0.0, 0.0, 0.0)),
])
def test_prf_counts_nothing_to_divide_by_as_zero(y: list[int], pred: list[int], expected: tuple[float, float, float]) -> None:
    assert prf(np.array(y), np.array(pred, dtype=bool)) == pytest.approx(expected)


def test_prf_weighs_each_row() -> None:
    y, pred = np.array([1, 1, 0]), np.array([True, True, True])
    assert prf(y, pred, np.array([1.0, 1.0, 2.0]))[0] == pytest.approx(0.5)


def test_label_metrics_honour_the_mask_and_report_the_binary_macro_f1() -> None:
    pred = np.array([[1, 0], [1, 0], [0, 0], [0, 1]], dtype=bool)
    y = np.array([[1, 0], [0, 0], [0, 0], [1, 1]], dtype=np.float32)
    mask = np.array([[1, 0], [1, 0], [1, 0], [1, 0]], dtype=np.float32)  # nobody spoke about the second label
    out = label_metrics(pred, y, mask, ["a", "b"])
    assert list(out) == ["a"]
    # tp 1, fp 1, fn 1, tn 1: F1 of the label and of its absence are both 0.5
    assert out["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "binary_macro_f1": 0.5,
                        "support": 2, "predicted": 2, "rows": 4}


def test_macro_f1_leaves_out_labels_without_positives() -> None:
    metrics = {"a": {"f1": 0.5, "support": 2}, "b": {"f1": 0.0, "support": 0}}
    assert macro_f1(metrics) == 0.5 and macro_f1(metrics, ["b"]) == 0.0


def test_band_counts_a_precision_equal_to_the_target_as_reaching_it() -> None:
    # 38 of 40 rows right, each weighing a third of a source over 40 rows: precision is 0.95 exactly,
    # though the sum of the weights lands a bit below or above it depending on the order of addition.
    probs = np.linspace(0.5, 0.99, 40)
    y = np.r_[np.zeros(2), np.ones(38)]
    assert choose_band(probs, y, 0.5, 0.95, np.full(40, 1 / 3 / 40)) == (0.5, 0.5)
