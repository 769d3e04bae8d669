"""Compare a candidate model with the current one on the same fixed held-out sets; gate promotion on it.

The held-out sets are the seed dev and test splits and the dev split of every public source either
model was trained on (read again from its folder; the same split the trainer held out). A model that
gains on the seed comments by losing on real text is refused, like any other loss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.classifier import MODEL_META_FILE
from model.labels import FLAGS, LABELS
from model.loader import build_pipeline
from training.data import ALL_TARGETS, IMPORT_SHARES, DataError, Example, read_many, split
from training.evaluate import gold, run_set

HELD_OUT = ("seed-dev", "seed-test")


def trained_sources(*model_dirs: Path | None) -> dict[str, Path]:
    """The public sources (name -> folder) named in these artifacts' training configs, first one winning."""
    out: dict[str, Path] = {}
    for model_dir in model_dirs:
        if model_dir is None:
            continue
        try:
            config = json.loads((model_dir / MODEL_META_FILE).read_text(encoding="utf-8")).get("training_config", {})
        except (OSError, ValueError):
            continue
        for name, path in (config.get("public_data") or {}).items():
            out.setdefault(name, Path(path))
    return out


def held_out_sets(seed: list[Path], extra: list[Path] | None = None,
                  public_data: dict[str, Path] | None = None) -> tuple[dict[str, list[Example]], list[str]]:
    """The sets (name -> rows) and notes on any public source that could not be read."""
    from training.importers import read_sources

    parts = split(read_many(seed))
    sets = {"seed-dev": parts["dev"], "seed-test": parts["test"]}
    notes = []
    for name, path in (public_data or {}).items():
        if not path.exists():
            notes.append(f"{name}: skipped, no data at {path} (give the path in the training config)")
            continue
        try:
            rows = read_sources({name: path})[name]
        except DataError as exc:
            notes.append(f"{name}: skipped, {exc}")
            continue
        sets[f"{name}-dev"] = split(rows, IMPORT_SHARES)["dev"]
    for path in extra or []:
        sets[path.stem] = read_many([path])
    return sets, notes


RESAMPLES = 1000  # paired bootstrap resamples of each held-out set
CONFIDENCE = 0.95  # a loss counts when the candidate is below the current model in this share of them


def resample_f1(name: str, rows: list[Example], predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Each label's F1 (and the macro-F1, under ``"macro"``) on :data:`RESAMPLES` bootstrap resamples of the
    set. The resamples are drawn from the set's name and size alone, so two models scored on the same set are
    scored on the same resamples: a paired comparison (Efron and Tibshirani; Koehn 2004 for MT systems)."""
    y, m = gold(rows)
    seed = int.from_bytes(hashlib.blake2b(f"{name}:{len(rows)}".encode(), digest_size=8).digest(), "big")
    draws = np.random.default_rng(seed).integers(0, len(rows), size=(RESAMPLES, len(rows))) if len(rows) else None
    out: dict[str, np.ndarray] = {}
    for j, target in enumerate(ALL_TARGETS):
        if draws is None or not m[:, j].any():
            continue
        mask, truth, said = m[:, j] > 0, y[:, j] > 0, predicted[:, j]
        tp = (mask & truth & said)[draws].sum(axis=1)
        fp = (mask & ~truth & said)[draws].sum(axis=1)
        fn = (mask & truth & ~said)[draws].sum(axis=1)
        out[target] = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(RESAMPLES), where=(2 * tp + fp + fn) > 0)
    labels = [t for t in LABELS if t in out and (y[m[:, ALL_TARGETS.index(t)] > 0, ALL_TARGETS.index(t)] > 0).any()]
    if labels:
        out["macro"] = np.mean([out[t] for t in labels], axis=0)
    return out


def score(model_dir: Path | None, sets: dict[str, list[Example]], roster: Path | None) -> dict[str, dict[str, Any]]:
    pipeline, components = build_pipeline(staff_roster=roster, model_dir=model_dir, rules_budget=None)
    if model_dir is not None and not components["model"].ok:
        raise ValueError(components["model"].detail)
    out = {}
    for name, rows in sets.items():
        summary, result = run_set(name, pipeline, rows)
        out[name] = {"macro_f1": summary["macro_f1"], "f1": {k: v["f1"] for k, v in summary["labels"].items()},
                     "support": {k: v["support"] for k, v in summary["labels"].items()},
                     "review_rate": summary.get("review_rate"), "measures": summary["measures"],
                     "resampled": resample_f1(name, rows, result.predicted)}
    return out


@dataclass
class Verdict:
    better: bool
    problems: list[str] = field(default_factory=list)
    candidate: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = []
        for set_name, cand in self.candidate.items():
            cur = (self.current or {}).get(set_name)
            head = f"{set_name}: macro-F1 candidate {cand['macro_f1']:.4f}"
            if cur:
                head += f", current {cur['macro_f1']:.4f} ({cand['macro_f1'] - cur['macro_f1']:+.4f})"
            if cand.get("review_rate") is not None:
                head += f"; review rate {cand['review_rate']:.1%}" + (f" vs {cur['review_rate']:.1%}" if cur else "")
            lines.append(head)
            for label in LABELS + FLAGS:
                if label in cand["f1"]:
                    c = cand["f1"][label]
                    line = f"  {label:12} {c:.3f}"
                    if cur and label in cur["f1"]:
                        line += f"  vs {cur['f1'][label]:.3f} ({c - cur['f1'][label]:+.3f})"
                    lines.append(line)
            for measure, value in cand.get("measures", {}).items():
                before = (cur or {}).get("measures", {}).get(measure)
                lines.append(f"  {measure}: {value:.3f}" + (f"  vs {before:.3f} ({value - before:+.3f})" if before is not None else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


MIN_SUPPORT = 10  # a label with fewer positives in a set is shown, not gated: one row would swing its F1 by 0.3


def _consistent(cand: dict[str, Any], cur: dict[str, Any], key: str) -> float | None:
    """The share of paired resamples in which the candidate scores below the current model (None: not resampled)."""
    a, b = cand.get("resampled", {}).get(key), cur.get("resampled", {}).get(key)
    if a is None or b is None or len(a) != len(b):
        return None
    return float(np.mean(a < b))


def judge(cand: dict[str, dict[str, Any]], cur: dict[str, dict[str, Any]], tolerance: float = 0.02) -> list[str]:
    """What makes the candidate worse: on any held-out set, its macro-F1 or the F1 of any label with at least
    ``MIN_SUPPORT`` positives is below the current model's by more than ``tolerance``, and (where the sets
    were resampled) below it in at least :data:`CONFIDENCE` of the paired resamples, so that a few rows of a
    small probe set flipping both ways is not a verdict while a loss the resamples agree on is. Seed and
    real sources count alike."""
    problems = []
    for set_name in cand:
        if set_name not in cur:
            continue
        c, k = cand[set_name], cur[set_name]
        checks = [("macro", "macro-F1", c["macro_f1"], k["macro_f1"], 4)]
        checks += [(label, f"{label} F1", f1, k["f1"][label], 3) for label, f1 in c["f1"].items()
                   if label in k["f1"] and c.get("support", {}).get(label, MIN_SUPPORT) >= MIN_SUPPORT]
        for key, what, new, old, digits in checks:
            if new >= old - tolerance:
                continue
            share = _consistent(c, k, key)
            if share is not None and share < CONFIDENCE:
                continue
            sure = f", in {share:.0%} of {RESAMPLES} paired resamples" if share is not None else ""
            problems.append(f"{set_name}: {what} {new:.{digits}f} is below the current {old:.{digits}f} by more than "
                            f"{tolerance}{sure}")
    return problems


def compare(candidate: Path, current: Path | None, sets: dict[str, list[Example]], roster: Path | None,
            tolerance: float = 0.02, notes: list[str] | None = None) -> Verdict:
    cand = score(candidate, sets, roster)
    if current is None:
        return Verdict(True, [], cand, None, notes or [])
    cur = score(current, sets, roster)
    problems = judge(cand, cur, tolerance)
    return Verdict(not problems, problems, cand, cur, notes or [])
