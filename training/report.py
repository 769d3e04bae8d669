"""The HTML evaluation report: tables and plots (precision-recall, reliability, label confusion, by channel)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.labels import FLAGS, LABELS
from training.data import ALL_TARGETS, Example
from training.evaluate import SystemResult


def _png(fig) -> str:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(main: SystemResult, baselines: Sequence[SystemResult], rows: Sequence[Example], y: np.ndarray,
           m: np.ndarray) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    targets = LABELS + FLAGS
    out = {}
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, target in zip(axes.flat, targets, strict=True):
        j = ALL_TARGETS.index(target)
        keep = m[:, j] > 0
        for system in [main, *baselines]:
            if keep.any() and y[keep, j].any() and system.scores[keep, j].any():
                p, r, _ = precision_recall_curve(y[keep, j], system.scores[keep, j])
                ax.plot(r, p, label=system.name)
        ax.set_title(target)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_ylim(0, 1.02)
    axes.flat[targets.index("abusive")].legend(fontsize=7)
    fig.tight_layout()
    out["Precision-recall curves"] = _png(fig)

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    bins = np.linspace(0, 1, 11)
    for ax, target in zip(axes.flat, targets, strict=True):
        j = ALL_TARGETS.index(target)
        keep = m[:, j] > 0
        s, t = main.scores[keep, j], y[keep, j]
        which = np.clip(np.digitize(s, bins) - 1, 0, 9)
        xs, ys, ns = [], [], []
        for b in range(10):
            sel = which == b
            if sel.any():
                xs.append(s[sel].mean())
                ys.append(t[sel].mean())
                ns.append(int(sel.sum()))
        ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.scatter(xs, ys, s=[10 + n for n in ns])
        ax.set_title(f"{target} (reliability)")
        ax.set_xlabel("mean score")
        ax.set_ylabel("share positive")
    fig.tight_layout()
    out["Reliability diagrams"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 6))
    idx = [ALL_TARGETS.index(t) for t in targets]
    matrix = np.zeros((len(targets), len(targets)))
    for a, ja in enumerate(idx):
        gold_rows = (y[:, ja] == 1) & (m[:, ja] > 0)
        if gold_rows.any():
            for b, jb in enumerate(idx):
                matrix[a, b] = main.predicted[gold_rows, jb].mean()
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
    ax.set_yticks(range(len(targets)), targets)
    for a in range(len(targets)):
        for b in range(len(targets)):
            ax.text(b, a, f"{matrix[a, b]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Share of each gold label predicted as each label")
    out["Confusion between labels"] = _png(fig)

    channels = sorted({r.channel or "unknown" for r in rows})
    from training.metrics import label_metrics, macro_f1

    fig, ax = plt.subplots(figsize=(8, 4))
    values = []
    for channel in channels:
        sel = np.array([(r.channel or "unknown") == channel for r in rows])
        values.append(macro_f1(label_metrics(main.predicted[sel], y[sel], m[sel], ALL_TARGETS), LABELS) if sel.any() else 0)
    ax.bar(channels, values)
    ax.set_ylim(0, 1)
    ax.set_ylabel("macro-F1 (six labels)")
    ax.set_title(f"{main.name} by channel")
    out["Scores by channel"] = _png(fig)
    return out


def write_report(out_dir: Path, title: str, data_name: str, main: SystemResult, baselines: Sequence[SystemResult],
                 rows: Sequence[Example], y: np.ndarray, m: np.ndarray, table: str, extra: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"data": data_name, "rows": len(rows), **extra, "systems": {s.name: s.summary() for s in [main, *baselines]}}
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plots = _plots(main, baselines, rows, y, m)
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em} pre{background:#f4f4f4;padding:1em}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p>{html.escape(data_name)}: {len(rows)} rows</p>"]
    if main.review is not None:
        parts.append(f"<p>Review rate: {main.review.mean():.1%}</p>")
    parts.append(f"<pre>{html.escape(table)}</pre>")
    for name, uri in plots.items():
        parts.append(f"<h2>{html.escape(name)}</h2><img src='{uri}'/>")
    parts.append("</body></html>")
    html_path = out_dir / "report.html"
    html_path.write_text("\n".join(parts), encoding="utf-8")
    return json_path, html_path
