"""Same comment, same answer: the int8 model's batch-neighbour drift, its parity with an fp32 reference, and its speed.

    .venv/bin/python bench/parity.py [--model data/release] [--reference fp32.onnx] [--compare] [--dev-mix]

Prints the machine line (cores, VNNI, onnxruntime), then for the shipped int8 graph (and with ``--compare``,
for each way of quantising the same fp32 graph): how far a comment's scores move with its neighbours
(alone vs in a padded batch of 32 random neighbours vs length buckets), decision agreement and probability
gaps against the fp32 reference, throughput at batch 32 and one-comment latency. Asserts nothing.

The reference: ``--reference`` (an fp32 ONNX graph), else the one the artifact's ``quantisation.reference``
names: for the release, the fp32 graph rebuilt (``training.quantise.dequantise``) from the original dynamic
int8 file, read from git. Texts: the seed dev and test splits (``--dev-mix``: the trainer's dev mix, which
needs ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine, percentile  # noqa: E402

OPTIONS = {  # name: (weights, description)
    "dynamic": ("dynamic", "quantize_dynamic, int8 per channel (the release before issue 12)"),
    "static-s8": ("s8", "fixed activation scales, int8 weights"),
    "static-s7": ("s7", "fixed activation scales, int8 weights with reduce_range (shipped)"),
    "static-u8": ("u8", "fixed activation scales, uint8 weights (U8U8)"),
}


def machine_line() -> str:
    import onnxruntime

    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    avx = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{machine()}; AVX-VNNI: {'yes' if ' avx_vnni' in flags else 'no'}; {avx}; onnxruntime {onnxruntime.__version__}"


def reference_graph(model_dir: Path, meta: dict, given: Path | None, work: Path) -> tuple[Path, str]:  # type: ignore[type-arg]
    if given is not None:
        return given, str(given)
    import onnx

    from training.quantise import dequantise

    ref = meta.get("quantisation", {}).get("reference", {})
    if "git" not in ref:
        raise SystemExit(f"{model_dir} names no fp32 reference; give one with --reference")
    blob = subprocess.run(["git", "show", ref["git"]], cwd=REPO, capture_output=True, check=True).stdout
    (work / "original.int8.onnx").write_bytes(blob)
    out = work / "reference.fp32.onnx"
    onnx.save(dequantise(onnx.load(str(work / "original.int8.onnx"))), str(out))
    return out, f"fp32 graph rebuilt from {ref['git']}"


def texts_for(meta: dict, dev_mix: bool) -> list[str]:  # type: ignore[type-arg]
    if dev_mix:
        from training.config import TrainingConfig
        from training.trainer import prepare

        return [r.text for r in prepare(TrainingConfig(**meta["training_config"])).dev]
    from training.data import read_many, split

    parts = split(read_many([REPO / "data" / "seed"]))
    return [r.text for r in parts["dev"] + parts["test"]]


def speed(clf, texts: list[str]) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    clf.logits(texts[:64])  # warm up
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        clf.logits(texts[i:i + 32])
    per_s = len(texts) / (time.perf_counter() - t0)
    one = []
    for text in texts[:300]:
        t1 = time.perf_counter()
        clf.logits([text])
        one.append((time.perf_counter() - t1) * 1000)
    return per_s, percentile(one, 50), percentile(one, 99)


def figures(model_dir: Path, onnx_file: str, texts: list[str], reference: np.ndarray) -> dict:  # type: ignore[type-arg]
    from model.transformer import OnnxClassifier, sigmoid
    from training.quantise import neighbour_drift, parity

    clf = OnnxClassifier.from_pretrained(model_dir, onnx_file=onnx_file)
    probs = sigmoid(clf.logits(texts) / clf.temperatures)
    thresholds = np.array([clf.thresholds[k] for k in clf.labels])
    drift = neighbour_drift(clf, random.Random(1).sample(texts, min(256, len(texts))))
    per_s, p50, p99 = speed(clf, texts[:1024])
    return {"parity": parity(reference, probs, thresholds), "drift": drift, "per_s": per_s, "p50": p50, "p99": p99,
            "mb": (model_dir / onnx_file).stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "data" / "release")
    parser.add_argument("--reference", type=Path, help="an fp32 ONNX graph of the same model")
    parser.add_argument("--compare", action="store_true", help="also quantise the reference each way and measure each")
    parser.add_argument("--dev-mix", action="store_true", help="the trainer's dev mix (../shared/data) instead of the seed splits")
    args = parser.parse_args()

    from model.transformer import OnnxClassifier, sigmoid
    from training.quantise import quantise, text_feeds

    meta = json.loads((args.model / "sift_model.json").read_text(encoding="utf-8"))
    print(machine_line())
    print(f"model {meta['version']} ({args.model}); quantisation: {meta.get('quantisation', {}).get('method', 'dynamic')}")
    texts = texts_for(meta, args.dev_mix)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ["sift_model.json", "tokenizer.json", meta.get("onnx_file", "model.int8.onnx")]:
            shutil.copy(args.model / name, work / name)
        ref_path, ref_name = reference_graph(args.model, meta, args.reference, work)
        if ref_path.parent != work:
            shutil.copy(ref_path, work / "reference.fp32.onnx")
        ref = OnnxClassifier.from_pretrained(work, onnx_file="reference.fp32.onnx")
        t0 = time.perf_counter()
        reference = sigmoid(ref.logits(texts) / ref.temperatures)
        print(f"reference: {ref_name}; {len(texts)} texts ({'dev mix' if args.dev_mix else 'seed dev+test'}), "
              f"fp32 scored in {time.perf_counter() - t0:.0f} s")
        rows = {"shipped": figures(work, meta.get("onnx_file", "model.int8.onnx"), texts, reference)}
        if args.compare:
            calibration = [t for t in texts_for(meta, False)][::2]  # seed rows; the artifact's own came from training rows
            for name, (weights, _) in OPTIONS.items():
                quantise(work / "reference.fp32.onnx", work / f"{name}.onnx", text_feeds(ref.encoder, calibration), weights=weights)
                rows[name] = figures(work, f"{name}.onnx", texts, reference)
    print()
    print(f"{'graph':10} {'MB':>5} {'drift |dlogit|':>14} {'drift |dprob|':>13} {'agree':>7} {'max |dp|':>8} {'mean |dp|':>9} "
          f"{'per s @32':>9} {'1 p50 ms':>8} {'1 p99 ms':>8}")
    for name, r in rows.items():
        p, d = r["parity"], r["drift"]
        print(f"{name:10} {r['mb']:5.1f} {d['max_abs_logit']:14.4f} {d['max_abs_prob']:13.4f} {p['decision_agreement']:7.4f} "
              f"{p['max_abs_diff']:8.4f} {p['mean_abs_diff']:9.5f} {r['per_s']:9.0f} {r['p50']:8.1f} {r['p99']:8.1f}")
    if args.compare:
        print()
        for name, (_, description) in OPTIONS.items():
            print(f"{name:10} {description}")
    print("drift: each text alone vs in a padded batch of 32 random neighbours and vs length buckets (256 texts); "
          "agree/|dp|: calibrated decisions and probabilities vs the fp32 reference")


if __name__ == "__main__":
    main()
