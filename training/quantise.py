"""Int8 with fixed activation scales: a comment's scores do not depend on its batch neighbours or the CPU.

ONNX Runtime's dynamic quantisation (``quantize_dynamic``) computes each activation's scale per call over
the whole padded batch, so a comment's logits move with the comments run beside it; and its 8-bit
weights, multiplied with uint8 activations by AVX2's ``vpmaddubsw`` on CPUs without AVX-512 VNNI,
can saturate the int16 pair sums, so the same batch scores differently on different CPUs.

Here the weights are quantised by ``quantize_dynamic`` itself (per channel, ``reduce_range``: 7-bit
weights, so a pair of products is at most 2 * 255 * 64 < 2**15 and no kernel saturates: ONNX Runtime's
advice for non-VNNI CPUs), and every ``DynamicQuantizeLinear`` is then frozen into a ``QuantizeLinear``
whose scale and zero point were calibrated once, by ONNX Runtime's calibrator, on real text. Each
comment's integer arithmetic is then its own, exact on every x86-64 CPU. The graph keeps ONNX Runtime's
fused integer kernels (``QAttention``, ``QEmbedLayerNormalization``, ``MatMulInteger``), so it is as
fast as the dynamic one. (``quantize_static`` itself cannot be used on the fused graph: neither of its
formats quantises ``Attention`` or ``EmbedLayerNormalization``, which would leave 60 MB of fp32 weights.)

``dequantise`` goes the other way, for a shipped artifact whose fp32 weights are not kept: it rebuilds
the fused fp32 graph from an int8 one (W = scale * (q - zero_point)).

    python -m training.quantise data/release          # requantise the shipped model (reads ../shared/data)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

METHOD = "static-activations"  # recorded in sift_model.json as quantisation.method
_MS = "com.microsoft"


def _q_arrays(inits: dict[str, Any], q: str, scale: str, zero: str, axis: int | None) -> npt.NDArray[np.float32]:
    from onnx import numpy_helper

    qa = numpy_helper.to_array(inits[q]).astype(np.float32)
    s = numpy_helper.to_array(inits[scale]).astype(np.float32)
    z = numpy_helper.to_array(inits[zero]).astype(np.float32)
    if axis is not None and s.ndim == 1:  # per channel: one scale per output column
        shape = [1] * qa.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    return (s * (qa - z)).astype(np.float32)  # type: ignore[no-any-return]


def dequantise(model: Any) -> Any:
    """The fp32 graph behind an int8 one made by ``quantize_dynamic`` (or ``quantise``) on ONNX Runtime's fused
    BERT graph: ``QEmbedLayerNormalization`` -> ``EmbedLayerNormalization``, ``QAttention`` -> ``Attention``, and
    each ``(Dynamic)QuantizeLinear``/``MatMulInteger``/``Cast``/``Mul`` chain -> ``MatMul``, weights dequantised.
    Anything else in the graph is kept as it is; an int8 node of another kind is refused."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    known = {"QEmbedLayerNormalization", "QAttention", "MatMulInteger", "DynamicQuantizeLinear"}
    other = {n.op_type for n in graph.node if n.op_type.startswith("Q") and n.op_type not in known | {"QuantizeLinear"}} | \
            {n.op_type for n in graph.node if n.op_type == "DequantizeLinear"}
    if other:
        raise ValueError(f"dequantise knows quantize_dynamic's fused BERT graph; this one also has {sorted(other)}")
    new_inits: dict[str, Any] = {}
    drop: set[int] = set()  # ids of nodes replaced
    replace: dict[int, Any] = {}

    def float_input(quantized: str) -> str:
        dql = producer[quantized]
        if dql.op_type not in ("DynamicQuantizeLinear", "QuantizeLinear"):
            raise ValueError(f"{quantized} does not come from a (Dynamic)QuantizeLinear ({dql.op_type})")
        return str(dql.input[0])

    def add_weight(name: str, value: npt.NDArray[np.float32]) -> str:
        new_inits[name] = numpy_helper.from_array(value, name)
        return name

    for node in graph.node:
        if node.op_type == "QEmbedLayerNormalization":
            ins = list(node.input)
            weights = [add_weight(ins[k].removesuffix("_quantized"), _q_arrays(inits, ins[k], ins[k + 6], ins[k + 11], None))
                       for k in range(2, 7)]
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            replace[id(node)] = helper.make_node("EmbedLayerNormalization", [ins[0], ins[1], *weights, ins[7]], list(node.output),
                                                 node.name.removesuffix("_quant"), domain=_MS, **attrs)
        elif node.op_type == "QAttention":
            ins = list(node.input)
            w = add_weight(ins[1].removesuffix("_quantized"), _q_arrays(inits, ins[1], ins[4], ins[7], axis=1))
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            replace[id(node)] = helper.make_node("Attention", [float_input(ins[0]), w, ins[2], ins[5]], list(node.output),
                                                 node.name.removesuffix("_quant"), domain=_MS, **attrs)
        elif node.op_type == "MatMulInteger":
            ins = list(node.input)
            (cast,) = consumers[node.output[0]]
            (mul,) = consumers[cast.output[0]]
            if cast.op_type != "Cast" or mul.op_type != "Mul":
                raise ValueError(f"{node.name}: expected MatMulInteger -> Cast -> Mul, found {cast.op_type} -> {mul.op_type}")
            scales = next(i for i in mul.input if i != cast.output[0])
            scales_mul = producer[scales]  # x_scale * w_scale
            x_q = producer[ins[0]]
            x_scale = x_q.output[1] if x_q.op_type == "DynamicQuantizeLinear" else x_q.input[1]
            w_scale = next(i for i in scales_mul.input if i != x_scale)
            w = add_weight(ins[1].removesuffix("_quantized"), _q_arrays(inits, ins[1], w_scale, ins[3], axis=1))
            replace[id(node)] = helper.make_node("MatMul", [float_input(ins[0]), w], list(mul.output),
                                                 node.name.removesuffix("_quant"))
            drop |= {id(cast), id(mul), id(scales_mul)}
        elif node.op_type in ("DynamicQuantizeLinear", "QuantizeLinear"):
            drop.add(id(node))
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) not in drop]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    used = {name for n in nodes for name in n.input} | {o.name for o in graph.output}
    kept = [i for i in graph.initializer if i.name in used and i.name not in new_inits]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept + [new_inits[k] for k in sorted(new_inits) if k in used])
    onnx.checker.check_model(out)
    return out


Feeds = Callable[[], Iterator[dict[str, npt.NDArray[np.int64]]]]


def text_feeds(encoder: Any, texts: Sequence[str], batch: int = 32, *, full_width: bool = False) -> Feeds:
    """Calibration batches from real texts, each batch of similar lengths (as the classifier serves them);
    ``full_width``: every batch padded to the encoder's max length (the histogram calibrators need one shape)."""
    rows = encoder.encode(list(texts))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))

    def feeds() -> Iterator[dict[str, npt.NDArray[np.int64]]]:
        for start in range(0, len(order), batch):
            ids, mask = encoder.pad([rows[i] for i in order[start:start + batch]])
            if full_width and ids.shape[1] < encoder.max_length:
                extra = encoder.max_length - ids.shape[1]
                ids = np.pad(ids, ((0, 0), (0, extra)), constant_values=encoder.pad_id)
                mask = np.pad(mask, ((0, 0), (0, extra)))
            yield {"input_ids": ids, "attention_mask": mask}
    return feeds


def _calibrate(fp32: Path, tensors: list[str], feeds: Feeds, method: str, percentile: float, work: Path) -> dict[str, tuple[float, float]]:
    """Each tensor's range over the calibration batches, by ONNX Runtime's calibrator."""
    import onnx
    from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod, create_calibrator

    model = onnx.load(str(fp32))
    # The fused contrib ops have no shape inference; the calibrator only needs to know these are float.
    have = {v.name for v in model.graph.value_info}
    model.graph.value_info.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors if t not in have)
    src = work / "calibrate.onnx"
    onnx.save(model, str(src))

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = feeds()

        def get_next(self) -> dict[str, npt.NDArray[np.int64]] | None:
            return next(self.it, None)

    kind = {"minmax": CalibrationMethod.MinMax, "minmax-avg": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}[method]
    options: dict[str, dict[str, Any]] = {"minmax-avg": {"moving_average": True},
                                          "percentile": {"percentile": percentile, "symmetric": False}}
    extra = options.get(method, {})
    calibrator = create_calibrator(src, op_types_to_calibrate=None, augmented_model_path=work / "augmented.onnx",
                                   calibrate_method=kind, extra_options=extra)
    calibrator.collect_data(Reader())
    data = calibrator.compute_data()
    ranges = {}
    for t in tensors:
        low, high = data[t].range_value
        ranges[t] = (float(np.asarray(low).min()), float(np.asarray(high).max()))
    return ranges


def quantise(fp32: Path, out: Path, feeds: Feeds, *, method: str = "minmax", percentile: float = 99.999,
             weights: str = "s7") -> dict[str, Any]:
    """Write the int8 graph of ``fp32`` (ONNX Runtime's fused BERT graph) to ``out``, activations at fixed,
    calibrated scales. ``weights``: ``s7`` int8 per channel with reduce_range (no saturation anywhere),
    ``s8`` full int8 (saturates on AVX2 without VNNI: for comparison only), ``u8`` uint8 per channel, or
    ``dynamic`` for ONNX Runtime's plain dynamic quantisation (today's, for comparison). Returns what to record."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType

    kind = "dynamic" if weights == "dynamic" else weights
    weight_type = QuantType.QUInt8 if kind == "u8" else QuantType.QInt8
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dyn = work / "dynamic.onnx"
        quantize_dynamic(str(fp32), str(dyn), weight_type=weight_type, per_channel=True, reduce_range=kind == "s7",
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fused ops have no shape inference
        model = onnx.load(str(dyn))
        if weights == "dynamic":
            onnx.save(model, str(out))
            return {"method": "dynamic", "tool": "onnxruntime.quantization.quantize_dynamic", "weights": "int8 per channel"}
        dqls = [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
        ranges = _calibrate(fp32, sorted({str(n.input[0]) for n in dqls}), feeds, method, percentile, work)
    qmin, qmax = get_qmin_qmax_for_qType(onnx.TensorProto.UINT8)  # what DynamicQuantizeLinear makes
    nodes = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        low, high = ranges[node.input[0]]
        zero, scale = compute_scale_zp(np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), qmin, qmax)
        quantized, scale_name, zero_name = node.output
        model.graph.initializer.extend([numpy_helper.from_array(np.asarray(scale, dtype=np.float32).reshape(()), scale_name),
                                        numpy_helper.from_array(np.asarray(zero, dtype=np.uint8).reshape(()), zero_name)])
        nodes.append(onnx.helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_name], [quantized],
                                           node.name.replace("QuantizeLinear", "StaticQuantizeLinear") or None))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(out))
    return {"method": METHOD, "tool": "onnxruntime.quantization.quantize_dynamic (weights) + calibrate (activations)",
            "weights": {"s7": "int8 per channel, reduce_range (7-bit)", "s8": "int8 per channel", "u8": "uint8 per channel"}[kind],
            "activations": "uint8 per tensor, fixed scales",
            "calibration_method": method if method == "minmax" else f"percentile {percentile}",
            "calibrated_tensors": len(ranges)}


def parity(reference: npt.NDArray[np.floating[Any]], probs: npt.NDArray[np.floating[Any]],
           thresholds: npt.NDArray[np.floating[Any]]) -> dict[str, float]:
    """How closely calibrated probabilities follow a reference's (PyTorch, or an fp32 graph): the share of
    (comment, label) decisions that agree at the thresholds, and the largest and mean probability gap."""
    return {"decision_agreement": round(float(((reference >= thresholds) == (probs >= thresholds)).mean()), 4),
            "max_abs_diff": round(float(np.abs(reference - probs).max()), 4),
            "mean_abs_diff": round(float(np.abs(reference - probs).mean()), 5),
            "rows": int(reference.shape[0])}


def neighbour_drift(classifier: Any, texts: Sequence[str], *, batch: int = 32, seed: int = 0) -> dict[str, float]:
    """How far a comment's scores move with the comments run beside it: each text alone, against the
    same text in a padded batch of ``batch`` random neighbours, and as served (length buckets).
    Largest |logit| and |calibrated probability| differences."""
    from model.transformer import sigmoid

    session, encoder = classifier._session, classifier.encoder
    alone = np.vstack([classifier.logits([t]) for t in texts])
    order = np.random.default_rng(seed).permutation(len(texts))
    mixed = np.zeros_like(alone)
    for start in range(0, len(texts), batch):
        idx = order[start:start + batch]
        ids, mask = encoder([texts[i] for i in idx])  # padded to the longest neighbour
        mixed[idx] = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    served = classifier.logits(list(texts))
    t = classifier.temperatures
    logit_gap = max(float(np.abs(mixed - alone).max()), float(np.abs(served - alone).max()))
    prob_gap = max(float(np.abs(sigmoid(mixed / t) - sigmoid(alone / t)).max()),
                   float(np.abs(sigmoid(served / t) - sigmoid(alone / t)).max()))
    return {"max_abs_logit": round(logit_gap, 5), "max_abs_prob": round(prob_gap, 5), "rows": len(texts), "batch": batch}


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rebuild_check(original: Path, fp32: Path, work: Path) -> dict[str, Any]:
    """Requantising the rebuilt fp32 graph the way the original was made must give back the original's weights."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    again = work / "again.onnx"
    quantize_dynamic(str(fp32), str(again), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    a = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(original)).graph.initializer}
    b = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(again)).graph.initializer}
    quantized = [k for k in a if k.endswith("_quantized")]
    same = sum(k in b and a[k].shape == b[k].shape and bool(np.array_equal(a[k], b[k])) for k in quantized)
    return {"quantized_weight_tensors": len(quantized), "identical_after_requantising": same}


def requantise_release(model_dir: Path, *, weights: str = "s7", method: str = "minmax", seed: int = 13) -> dict[str, Any]:
    """Rebuild the fp32 graph of an artifact shipped with a dynamic int8 graph only, requantise it with
    fixed activation scales (calibrated on its own training rows), and rewrite the artifact: the graph,
    ``quantisation``, ``parity`` (against the rebuilt fp32 graph), ``neighbour_drift``, the held-out
    metrics and the card."""
    import json
    import random
    import shutil
    import subprocess

    import onnx

    from model.classifier import MODEL_META_FILE
    from model.transformer import OnnxClassifier, sigmoid
    from training.card import write_card
    from training.config import TrainingConfig
    from training.trainer import Trainer, prepare

    meta_path = model_dir / MODEL_META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    onnx_file = meta.get("onnx_file", "model.int8.onnx")
    original = model_dir / onnx_file
    if meta.get("quantisation", {}).get("method", "dynamic") != "dynamic":
        raise SystemExit(f"{original} is already quantised with fixed scales ({meta['quantisation']['method']})")
    repo = Path(__file__).resolve().parents[1]
    rel = original.resolve().relative_to(repo)
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(rel)], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.strip()
    data = prepare(TrainingConfig(**meta["training_config"]))
    picked = random.Random(seed).sample(range(len(data.train)), min(len(data.train), 1024))
    original_sha = _sha256(original)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in [MODEL_META_FILE, "tokenizer.json"]:
            shutil.copy(model_dir / name, work / name)
        shutil.copy(original, work / "original.onnx")
        onnx.save(dequantise(onnx.load(str(original))), str(work / "fp32.onnx"))
        check = _rebuild_check(original, work / "fp32.onnx", work)
        ref = OnnxClassifier.from_pretrained(work, onnx_file="fp32.onnx")
        old = OnnxClassifier.from_pretrained(work, onnx_file="original.onnx")
        dev = [r.text for r in data.dev]
        thresholds = np.array([ref.thresholds[k] for k in ref.labels])
        reference = sigmoid(ref.logits(dev) / ref.temperatures)
        check["original_int8_vs_rebuilt_fp32"] = parity(reference, sigmoid(old.logits(dev) / old.temperatures), thresholds)
        info = quantise(work / "fp32.onnx", work / "new.onnx", text_feeds(ref.encoder, [data.train[i].text for i in picked]),
                        method=method, weights=weights)
        new = OnnxClassifier.from_pretrained(work, onnx_file="new.onnx")
        shipped_parity = {**parity(reference, sigmoid(new.logits(dev) / new.temperatures), thresholds),
                          "reference": "rebuilt fp32 graph (the release's PyTorch weights are not kept)"}
        drift = neighbour_drift(new, random.Random(seed).sample(dev, min(len(dev), 256)))
        old_drift = neighbour_drift(old, random.Random(seed).sample(dev, min(len(dev), 256)))
        shutil.copy(work / "new.onnx", original)
    served = OnnxClassifier.from_pretrained(model_dir)
    sources: dict[str, int] = {}
    for i in picked:
        sources[data.train[i].source] = sources.get(data.train[i].source, 0) + 1
    meta["quantisation"] = {
        **info, "calibration": {"rows": len(picked), "sources": dict(sorted(sources.items())),
                                "drawn_from": f"training rows of training_config, seed {seed}"},
        "reference": {"kind": "fp32 graph rebuilt from the dynamic int8 graph first shipped (W = scale * (q - zero_point))",
                      "git": f"{commit}:{rel}", "sha256": original_sha,
                      "rebuild_check": check},
        "before": {"method": "dynamic", "parity_vs_rebuilt_fp32": check["original_int8_vs_rebuilt_fp32"],
                   "neighbour_drift": old_drift, "parity_vs_pytorch_at_training": meta.get("parity")},
    }
    meta["parity"] = shipped_parity
    meta["neighbour_drift"] = drift
    meta["metrics"] = {name: Trainer._evaluate_set(served, rows) for name, rows in data.eval_sets.items() if rows}
    meta["int8_size_bytes"] = original.stat().st_size
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    write_card(model_dir, meta)
    return meta


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Requantise an artifact shipped with a dynamic int8 graph only.")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--weights", choices=["s7", "u8"], default="s7")
    parser.add_argument("--method", choices=["minmax", "minmax-avg", "percentile"], default="minmax")
    args = parser.parse_args()
    meta = requantise_release(args.model_dir, weights=args.weights, method=args.method)
    print(json.dumps({k: meta[k] for k in ["quantisation", "parity", "neighbour_drift"]}, indent=2))


if __name__ == "__main__":
    main()
