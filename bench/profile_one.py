"""Where one comment's time goes in the whole pipeline (cProfile), to read beside the benchmarks.

    .venv/bin/python bench/profile_one.py [--model var/models/current] [--n 1000]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, load_comments, machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "var" / "models" / "current")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    from model.loader import build_pipeline
    from model.normalize import normalize

    pipeline, _ = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=args.model)
    texts = load_comments()[: args.n]
    for t in texts[:50]:
        pipeline.classify(t)
    # Stage by stage, timed directly.
    stages = {"normalise": 0.0, "model (tokenise + ONNX)": 0.0, "rules": 0.0}
    for t in texts:
        t0 = time.perf_counter()
        n = normalize(t)
        t1 = time.perf_counter()
        if pipeline.classifier is not None:
            pipeline.classifier.predict_proba([n.text])
        t2 = time.perf_counter()
        pipeline.rules.analyze(n.text)
        t3 = time.perf_counter()
        stages["normalise"] += t1 - t0
        stages["model (tokenise + ONNX)"] += t2 - t1
        stages["rules"] += t3 - t2
    per_rule = {rule.name: 0.0 for rule in pipeline.rules.rules}
    for t in texts:
        for rule in pipeline.rules.rules:
            t0 = time.perf_counter()
            rule.find(t)
            per_rule[rule.name] += time.perf_counter() - t0
    print(f"machine: {machine()}")
    print(f"mean per comment over {len(texts)} comments, one at a time:")
    for name, total in stages.items():
        print(f"  {name:28} {total / len(texts) * 1000:.3f} ms")
    for name, total in per_rule.items():
        print(f"    rules: {name:18} {total / len(texts) * 1000:.3f} ms")
    profiler = cProfile.Profile()
    profiler.enable()
    for t in texts:
        pipeline.classify(t)
    profiler.disable()
    print("\ncProfile of pipeline.classify, top 15 by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
