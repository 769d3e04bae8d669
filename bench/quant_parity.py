"""What int8 does to a trained model: static (fixed activation scales calibrated on real text, as shipped)
against ONNX Runtime's dynamic quantisation and the fp32 graph, on held-out real comments.

    .venv/bin/python bench/quant_parity.py var/students/VERSION [--rows 2000]

Needs the artifact's PyTorch weights (``model.safetensors``: a model trained here, not the shipped release).
For each graph it prints the share of (comment, label) decisions that agree with PyTorch at the model's
thresholds, the largest and mean gap in calibrated probability, how far a comment's scores move with its
batch neighbours, and its speed (batched and one at a time). Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, percentile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--rows", type=int, default=2000, help="held-out rows scored (drawn from every source's dev split)")
    args = parser.parse_args()
    if not (args.model_dir / "model.safetensors").is_file():
        raise SystemExit(f"{args.model_dir} has no model.safetensors: give a model trained here (its PyTorch weights)")
    import json
    import shutil

    import numpy as np

    from model.classifier import MODEL_META_FILE
    from model.transformer import OnnxClassifier, sigmoid
    from training import network as net
    from training.config import TrainingConfig
    from training.quantise import neighbour_drift, parity, quantise, text_feeds
    from training.trainer import CALIBRATION_ROWS, Trainer, prepare

    meta = json.loads((args.model_dir / MODEL_META_FILE).read_text(encoding="utf-8"))
    config = TrainingConfig(**meta["training_config"])
    data = prepare(config)
    dev = [r.text for r in data.dev]
    texts = random.Random(13).sample(dev, min(args.rows, len(dev)))
    picked = random.Random(config.seed).sample(range(len(data.train)), min(len(data.train), CALIBRATION_ROWS))
    calibration = [data.train[i].text for i in picked]
    network = net.load(args.model_dir)
    print(f"machine: {machine()}")
    print(f"model {meta['version']}: {len(texts)} held-out rows from the dev splits of {len({r.source for r in data.dev})} sources; "
          f"calibration: {len(calibration)} training rows")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in [MODEL_META_FILE, "tokenizer.json"]:
            shutil.copy(args.model_dir / name, work / name)
        ref = OnnxClassifier.from_pretrained(args.model_dir)  # for the encoder and the calibration of scores
        assert ref.encoder is not None
        torch_probs = sigmoid(Trainer(config, progress=False)._logits(network, ref.encoder, texts) / ref.temperatures)
        thresholds = np.array([ref.thresholds[k] for k in ref.labels])
        fp32, _, _ = net.export_onnx(network, work, text_feeds(ref.encoder, calibration))
        fused = work / "fused.onnx"
        from training.network import _fuse

        produced = _fuse(fp32, network.encoder.config, work)  # type: ignore[arg-type]
        shutil.copy(produced, fused)
        quantise(fused, work / "dynamic.onnx", text_feeds(ref.encoder, calibration), weights="dynamic")
        quantise(fused, work / "static.onnx", text_feeds(ref.encoder, calibration))
        print(f"{'graph':28} {'MB':>6} {'agree':>8} {'max gap':>8} {'mean gap':>9} {'drift':>8} {'batched/s':>10} {'p50 ms':>7}")
        for name, file in [("fp32 (fused)", "fused.onnx"), ("int8 dynamic", "dynamic.onnx"), ("int8 static, calibrated", "static.onnx")]:
            clf = OnnxClassifier.from_pretrained(work, onnx_file=file)
            probs = sigmoid(clf.logits(texts) / clf.temperatures)
            p = parity(torch_probs, probs, thresholds)
            drift = neighbour_drift(clf, texts[:256])
            t0 = time.perf_counter()
            for i in range(0, len(texts), 32):
                clf.logits(texts[i:i + 32])
            rate = len(texts) / (time.perf_counter() - t0)
            one = []
            for t in texts[:300]:
                s = time.perf_counter()
                clf.logits([t])
                one.append((time.perf_counter() - s) * 1000)
            size = (work / file).stat().st_size / 1e6
            print(f"{name:28} {size:>6.1f} {p['decision_agreement']:>8.4f} {p['max_abs_diff']:>8.4f} {p['mean_abs_diff']:>9.5f} "
                  f"{drift['max_abs_prob']:>8.5f} {rate:>10.0f} {percentile(one, 50):>7.2f}")
    print("agree: share of (comment, label) decisions equal to PyTorch's at the thresholds; gaps in calibrated "
          "probability; drift: largest probability change of a comment between alone and in a padded batch")


if __name__ == "__main__":
    main()
