"""Latency and throughput of the learnt model (int8 ONNX) and of the whole pipeline, in-process.

    .venv/bin/python bench/model_bench.py [--model var/models/current] [--batch 32]

Prints the machine, the model's size and training time, one-comment p50/p99 and batched throughput.
Asserts nothing: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, load_comments, machine, percentile  # noqa: E402
from model.classifier import MODEL_META_FILE  # noqa: E402


def timed(fn, items, repeat: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        for item in items:
            t0 = time.perf_counter()
            fn(item)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "var" / "models" / "current")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=1000, help="comments for the one-at-a-time figures")
    args = parser.parse_args()

    from model.loader import build_pipeline
    from model.transformer import OnnxClassifier

    texts = load_comments()
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    classifier = OnnxClassifier.from_pretrained(args.model)
    load_s = time.perf_counter() - t0
    meta = json.loads((args.model / MODEL_META_FILE).read_text())
    size = (args.model / "model.int8.onnx").stat().st_size
    print(f"model {meta['version']}: int8 ONNX {size / 1e6:.1f} MB, loaded in {load_s:.2f} s; "
          f"trained in {meta['train_seconds']} s on {meta['training_rows']} rows (best epoch {meta['best_epoch']})")
    pipeline, _ = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=args.model)
    sample = texts[: args.n]
    for t in sample[:50]:
        pipeline.classify(t)

    model_one = timed(lambda t: classifier.predict_proba([t]), sample)
    pipe_one = timed(pipeline.classify, sample)
    print(f"one comment, model alone:    p50 {percentile(model_one, 50):.2f} ms  p99 {percentile(model_one, 99):.2f} ms")
    print(f"one comment, whole pipeline: p50 {percentile(pipe_one, 50):.2f} ms  p99 {percentile(pipe_one, 99):.2f} ms")

    for name, fn in [("model alone", classifier.predict_proba), ("whole pipeline", pipeline.classify_many)]:
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(texts), args.batch):
            n += len(fn(texts[i:i + args.batch]))
        print(f"batched ({args.batch}, arrival order), {name}: {n / (time.perf_counter() - t0):,.0f} comments/s over {n}")


if __name__ == "__main__":
    main()
