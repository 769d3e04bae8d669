"""Evaluate the served pipeline on labelled data, beside baselines run on the same rows.

Reports per label and flag: precision, recall, F1, support; macro-F1; the review rate and
the precision of decisions made without review. Baselines: the rules alone, and
``alt-profanity-check`` for ``abusive``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.labels import FLAGS, LABELS
from model.pipeline import Pipeline
from training.data import ALL_TARGETS, Example, target_matrix
from training.metrics import label_metrics, macro_f1


@dataclass
class SystemResult:
    name: str
    metrics: dict[str, dict[str, float]]
    macro_f1_labels: float
    scores: np.ndarray  # rows x targets
    predicted: np.ndarray
    review: np.ndarray | None = None
    outside_review: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"macro_f1": self.macro_f1_labels, "labels": self.metrics}
        if self.review is not None:
            out["review_rate"] = round(float(self.review.mean()), 4)
            out["outside_review"] = self.outside_review
        return out


def gold(rows: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    return target_matrix(rows, ALL_TARGETS)


def run_pipeline(name: str, pipeline: Pipeline, rows: Sequence[Example], y: np.ndarray, m: np.ndarray,
                 batch: int = 64) -> SystemResult:
    scores = np.zeros_like(y)
    pred = np.zeros_like(y, dtype=bool)
    review = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        for offset, result in enumerate(pipeline.classify_many([r.text for r in chunk])):
            i = start + offset
            for j, t in enumerate(ALL_TARGETS):
                scores[i, j] = result.scores[t] if t in LABELS else result.flag_scores[t]
                pred[i, j] = t in result.labels if t in LABELS else result.flags[t]
            review[i] = result.needs_review
    metrics = label_metrics(pred, y, m, ALL_TARGETS)
    outside = label_metrics(pred[~review], y[~review], m[~review], ALL_TARGETS) if (~review).any() else {}
    return SystemResult(name, metrics, macro_f1(metrics, LABELS), scores, pred, review,
                        {k: {"precision": v["precision"], "decided": v["predicted"]} for k, v in outside.items()})


def source_measures(name: str, rows: Sequence[Example], result: SystemResult) -> dict[str, float]:
    """The figures that say most about one held-out set beyond per-label F1 (see data/README.md):
    BANKING77's query recall on questions and requests, and how many of its rows get query or complaint;
    the binary macro-F1 of ``abusive`` (OLID's measure) and its false-alarm rate on rows that are not abusive."""
    from training.importers import asks_something

    out: dict[str, float] = {}
    col = ALL_TARGETS.index
    if name.startswith("banking77") and len(rows):
        asks = np.array([asks_something(r.text) for r in rows])
        query, complaint = result.predicted[:, col("query")], result.predicted[:, col("complaint")]
        if asks.any():
            out["query recall on questions and requests"] = round(float(query[asks].mean()), 4)
        out["query or complaint, all rows"] = round(float((query | complaint).mean()), 4)
    abusive = result.metrics.get("abusive")
    if abusive:
        if name.startswith(("olid", "davidson", "tweeteval-offensive", "tweeteval-hate", "ethos")):
            out["abusive binary macro-F1"] = abusive["binary_macro_f1"]
        y, m = gold(rows)
        clean = (m[:, col("abusive")] > 0) & (y[:, col("abusive")] == 0)
        if clean.any():
            out["abusive false-alarm rate"] = round(float(result.predicted[clean, col("abusive")].mean()), 4)
    return out


def run_set(name: str, pipeline: Pipeline, rows: Sequence[Example]) -> tuple[dict[str, Any], SystemResult]:
    """One held-out set through the pipeline: its summary (macro-F1, per-label metrics, review rate, the set's
    own measures) and the per-row result. `sift evaluate` and `sift models compare` both read their figures
    from this."""
    y, m = gold(rows)
    result = run_pipeline(name, pipeline, rows, y, m)
    return {**result.summary(), "rows": len(rows), "measures": source_measures(name, rows, result)}, result


def score_set(name: str, pipeline: Pipeline, rows: Sequence[Example]) -> dict[str, Any]:
    """The summary of :func:`run_set`."""
    return run_set(name, pipeline, rows)[0]


def run_profanity_check(rows: Sequence[Example], y: np.ndarray, m: np.ndarray) -> SystemResult | None:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return None
    j = ALL_TARGETS.index("abusive")
    scores = np.zeros_like(y)
    scores[:, j] = predict_prob([r.text for r in rows])
    pred = scores >= 0.5
    only = np.zeros_like(m)
    only[:, j] = m[:, j]
    metrics = label_metrics(pred, y, only, ALL_TARGETS)
    return SystemResult("alt-profanity-check", metrics, metrics.get("abusive", {}).get("f1", 0.0), scores, pred)


def format_table(results: Sequence[SystemResult]) -> str:
    names = [r.name for r in results]
    width = max(14, *(len(n) for n in names))
    lines = ["target        " + "".join(f"{n:>{width + 14}}" for n in names),
             "              " + "".join(f"{'P    R    F1   (n)':>{width + 14}}" for _ in names)]
    for target in LABELS + FLAGS:
        cells = []
        for r in results:
            m = r.metrics.get(target)
            cells.append(f"{m['precision']:.2f} {m['recall']:.2f} {m['f1']:.2f} ({m['support']})" if m else "-")
        lines.append(f"{target:<14}" + "".join(f"{c:>{width + 14}}" for c in cells))
    lines.append(f"{'macro-F1 (6)':<14}" + "".join(f"{r.macro_f1_labels:>{width + 14}.4f}" for r in results))
    return "\n".join(lines)


def format_sources(summary: dict[str, dict[str, Any]]) -> str:
    """One line a held-out set: rows, macro-F1 over the labels it speaks about, review rate, its own measures."""
    lines = [f"{'set':28} {'rows':>6} {'macro-F1':>9} {'review':>7}  per label F1 · measures"]
    for set_name, s in summary.items():
        labels = " ".join(f"{k} {v['f1']:.2f}" for k, v in s["labels"].items() if v["support"] > 0)
        measures = " · ".join(f"{k} {v:.3f}" for k, v in s.get("measures", {}).items())
        review = f"{s['review_rate']:.1%}" if "review_rate" in s else "-"
        lines.append(f"{set_name:28} {s['rows']:>6} {s['macro_f1']:>9.4f} {review:>7}  {labels}" + (f" · {measures}" if measures else ""))
    return "\n".join(lines)
