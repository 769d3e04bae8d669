"""Compare a candidate model with the current one on the same fixed held-out sets; gate promotion on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.labels import FLAGS, LABELS
from model.loader import build_pipeline
from training.data import Example, read_many, split
from training.evaluate import gold, run_pipeline

HELD_OUT = ("seed-dev", "seed-test")


def held_out_sets(seed: list[Path], extra: list[Path] | None = None) -> dict[str, list[Example]]:
    parts = split(read_many(seed))
    sets = {"seed-dev": parts["dev"], "seed-test": parts["test"]}
    for path in extra or []:
        sets[path.stem] = read_many([path])
    return sets


def score(model_dir: Path | None, sets: dict[str, list[Example]], roster: Path | None) -> dict[str, dict[str, Any]]:
    pipeline, components = build_pipeline(staff_roster=roster, model_dir=model_dir)
    if model_dir is not None and not components["model"].ok:
        raise ValueError(components["model"].detail)
    out = {}
    for name, rows in sets.items():
        y, m = gold(rows)
        result = run_pipeline(name, pipeline, rows, y, m)
        out[name] = {"macro_f1": result.macro_f1_labels, "f1": {k: v["f1"] for k, v in result.metrics.items()},
                     "review_rate": round(float(result.review.mean()), 4) if result.review is not None else None}
    return out


@dataclass
class Verdict:
    better: bool
    problems: list[str] = field(default_factory=list)
    candidate: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, dict[str, Any]] | None = None

    def table(self) -> str:
        lines = []
        for set_name, cand in self.candidate.items():
            cur = (self.current or {}).get(set_name)
            head = f"{set_name}: macro-F1 candidate {cand['macro_f1']:.4f}"
            if cur:
                head += f", current {cur['macro_f1']:.4f} ({cand['macro_f1'] - cur['macro_f1']:+.4f})"
            lines.append(head)
            for label in LABELS + FLAGS:
                if label in cand["f1"]:
                    c = cand["f1"][label]
                    line = f"  {label:12} {c:.3f}"
                    if cur and label in cur["f1"]:
                        line += f"  vs {cur['f1'][label]:.3f} ({c - cur['f1'][label]:+.3f})"
                    lines.append(line)
        return "\n".join(lines)


def compare(candidate: Path, current: Path | None, sets: dict[str, list[Example]], roster: Path | None,
            tolerance: float = 0.02) -> Verdict:
    cand = score(candidate, sets, roster)
    if current is None:
        return Verdict(True, [], cand, None)
    cur = score(current, sets, roster)
    problems = []
    for set_name in cand:
        if cand[set_name]["macro_f1"] < cur[set_name]["macro_f1"] - tolerance:
            problems.append(f"{set_name}: macro-F1 {cand[set_name]['macro_f1']:.4f} is below the current "
                            f"{cur[set_name]['macro_f1']:.4f} by more than {tolerance}")
        for label, f1 in cand[set_name]["f1"].items():
            before = cur[set_name]["f1"].get(label)
            if before is not None and f1 < before - tolerance:
                problems.append(f"{set_name}: {label} F1 {f1:.3f} is below the current {before:.3f} by more than {tolerance}")
    return Verdict(not problems, problems, cand, cur)
