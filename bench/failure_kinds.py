"""Before and after: the probe posts of each failure kind (data/probes/failure_kinds.jsonl), as each model labels them.

    .venv/bin/python bench/failure_kinds.py --model var/models/OLD --model data/release

Prints, for every post, the gold labels and each model's labels (with the deciding scores), and per
kind how many posts each model gets exactly right. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine  # noqa: E402
from model.loader import build_pipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True, help="a model folder (repeatable)")
    parser.add_argument("--probes", type=Path, default=REPO / "data" / "probes" / "failure_kinds.jsonl")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.probes.read_text(encoding="utf-8").splitlines() if line.strip()]
    pipelines = []
    for model_dir in args.model:
        pipeline, status = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=model_dir)
        if not status["model"].ok:
            raise SystemExit(status["model"].detail)
        pipelines.append((pipeline.model_version, pipeline))
    print(f"machine: {machine()}")
    results = {version: pipeline.classify_many([r["text"] for r in rows]) for version, pipeline in pipelines}
    exact: dict[str, dict[str, int]] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        print(f"\n## {kind}")
        for i, row in enumerate(rows):
            if row["kind"] != kind:
                continue
            gold = set(row["labels"]) | set(row.get("flags", []))
            print(f"- {row['text']!r}\n    gold: {sorted(gold) or '-'}")
            for version, _ in pipelines:
                res = results[version][i]
                got = set(res.labels) | {f for f, on in res.flags.items() if on}
                exact.setdefault(version, {}).setdefault(kind, 0)
                exact[version][kind] += got == gold
                scores = " ".join(f"{k} {v:.2f}" for k, v in res.scores.items() if v >= 0.2)
                print(f"    {version}: {sorted(got) or '-'}{' ✓' if got == gold else ''}  [{scores}]"
                      f"{'  review' if res.needs_review else ''}")
    print("\nexactly right, per kind (of 5):")
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    print(f"{'model':28}" + "".join(f"{k[:22]:>24}" for k in kinds))
    for version, _ in pipelines:
        print(f"{version:28}" + "".join(f"{exact[version].get(k, 0):>24}" for k in kinds))


if __name__ == "__main__":
    main()
