"""Compare a candidate model with the current one on the same fixed held-out sets; gate promotion on it.

The held-out sets are the seed dev and test splits and the dev split of every public source either
model was trained on (read again from its folder; the same split the trainer held out). A model that
gains on the seed comments by losing on real text is refused, like any other loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.classifier import MODEL_META_FILE
from model.labels import FLAGS, LABELS
from model.loader import build_pipeline
from training.data import IMPORT_SHARES, DataError, Example, read_many, split
from training.evaluate import score_set

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


def score(model_dir: Path | None, sets: dict[str, list[Example]], roster: Path | None) -> dict[str, dict[str, Any]]:
    pipeline, components = build_pipeline(staff_roster=roster, model_dir=model_dir)
    if model_dir is not None and not components["model"].ok:
        raise ValueError(components["model"].detail)
    out = {}
    for name, rows in sets.items():
        summary = score_set(name, pipeline, rows)
        out[name] = {"macro_f1": summary["macro_f1"], "f1": {k: v["f1"] for k, v in summary["labels"].items()},
                     "support": {k: v["support"] for k, v in summary["labels"].items()},
                     "review_rate": summary.get("review_rate"), "measures": summary["measures"]}
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


def judge(cand: dict[str, dict[str, Any]], cur: dict[str, dict[str, Any]], tolerance: float = 0.02) -> list[str]:
    """What makes the candidate worse: on any held-out set, its macro-F1 or the F1 of any label with at least
    ``MIN_SUPPORT`` positives is below the current model's by more than ``tolerance``. Seed and real sources
    count alike."""
    problems = []
    for set_name in cand:
        if set_name not in cur:
            continue
        if cand[set_name]["macro_f1"] < cur[set_name]["macro_f1"] - tolerance:
            problems.append(f"{set_name}: macro-F1 {cand[set_name]['macro_f1']:.4f} is below the current "
                            f"{cur[set_name]['macro_f1']:.4f} by more than {tolerance}")
        for label, f1 in cand[set_name]["f1"].items():
            before = cur[set_name]["f1"].get(label)
            if cand[set_name].get("support", {}).get(label, MIN_SUPPORT) < MIN_SUPPORT:
                continue
            if before is not None and f1 < before - tolerance:
                problems.append(f"{set_name}: {label} F1 {f1:.3f} is below the current {before:.3f} by more than {tolerance}")
    return problems


def compare(candidate: Path, current: Path | None, sets: dict[str, list[Example]], roster: Path | None,
            tolerance: float = 0.02, notes: list[str] | None = None) -> Verdict:
    cand = score(candidate, sets, roster)
    if current is None:
        return Verdict(True, [], cand, None, notes or [])
    cur = score(current, sets, roster)
    problems = judge(cand, cur, tolerance)
    return Verdict(not problems, problems, cand, cur, notes or [])
