from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from model.loader import build_pipeline
from model.transformer import OnnxClassifier
from training import network as net
from training.config import TrainingConfig
from training.data import MODEL_TARGETS, read_many, split
from training.registry import Registry, RegistryError
from training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def test_artifact_describes_itself(tiny_model: Path) -> None:
    for name in ["model.safetensors", "model.int8.onnx", "tokenizer.json", "encoder_config.json", "sift_model.json", "README.md"]:
        assert (tiny_model / name).is_file(), name
    meta = json.loads((tiny_model / "sift_model.json").read_text())
    assert meta["labels"] == list(MODEL_TARGETS) and meta["version"] == "tiny-1"
    assert set(meta["thresholds"]) == set(meta["review_bands"]) == set(meta["temperatures"]) == set(MODEL_TARGETS)
    assert len(meta["training_data_fingerprint"]) == 64 and meta["training_config"]["base_model"] == "tiny-random"
    assert {"seed-dev", "seed-test"} <= set(meta["metrics"]) and meta["sources"]["seed"]["rows"] > 1500  # training rows
    card = (tiny_model / "README.md").read_text()
    assert "Training data and licences" in card and "Where it fails" in card
    for label in MODEL_TARGETS:
        low, high = meta["review_bands"][label]
        assert low <= meta["thresholds"][label] <= high


def test_training_config_round_trips_through_the_artifact(tiny_model: Path, tiny_config: TrainingConfig) -> None:
    meta = json.loads((tiny_model / "sift_model.json").read_text())
    assert TrainingConfig(**meta["training_config"]) == tiny_config


@pytest.mark.slow  # trains a second model
def test_same_data_and_seed_give_the_same_model(tiny_model: Path, tiny_config: TrainingConfig, tmp_path: Path) -> None:
    again = Trainer(tiny_config, progress=False).train(tmp_path, version="tiny-again")
    from safetensors.torch import load_file

    a, b = load_file(str(tiny_model / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_int8_onnx_matches_pytorch_on_the_dev_set(tiny_model: Path) -> None:
    dev = [r.text for r in split(read_many([REPO / "data" / "seed"]))["dev"]]
    served = OnnxClassifier.from_pretrained(tiny_model)
    torch_net = net.load(tiny_model)
    assert served.encoder is not None
    ids, mask = served.encoder(dev)
    with torch.no_grad():
        logits = torch_net(torch.from_numpy(ids), torch.from_numpy(mask))
        torch_probs = torch.sigmoid(logits / torch.from_numpy(served.temperatures)).numpy()
    onnx_probs = np.array([[p[k] for k in served.labels] for p in served.predict_proba(dev)])
    thresholds = np.array([served.thresholds[k] for k in served.labels])
    same = ((torch_probs >= thresholds) == (onnx_probs >= thresholds)).mean()
    # Fixed activation scales and 7-bit weights: the integer arithmetic is exact on every x86-64 CPU, VNNI or
    # not, so this bound is the same everywhere (the tiny random model sits near its thresholds more than a real one).
    assert same >= 0.97
    assert np.abs(torch_probs - onnx_probs).mean() <= 0.01
    # ...and the trainer measured the same parity and stored it in the artifact.
    meta = json.loads((tiny_model / "sift_model.json").read_text())
    assert meta["parity"]["reference"] == "pytorch" and abs(meta["parity"]["decision_agreement"] - same) <= 0.005
    assert meta["quantisation"]["method"] == "static-activations"
    assert meta["quantisation"]["calibration"]["rows"] == 800  # every training row of the tiny config (train_limit)


def test_the_int8_graph_has_no_activation_scale_computed_per_call(tiny_model: Path) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(tiny_model / "model.int8.onnx")).graph.node}
    assert "DynamicQuantizeLinear" not in ops and {"QuantizeLinear", "QAttention", "MatMulInteger"} <= ops


def test_the_fp32_graph_rebuilt_from_the_int8_one_follows_pytorch(tiny_model: Path) -> None:
    import onnx

    from training.quantise import dequantise

    rebuilt = tiny_model.parent / "rebuilt"
    shutil.copytree(tiny_model, rebuilt)
    onnx.save(dequantise(onnx.load(str(tiny_model / "model.int8.onnx"))), str(rebuilt / "model.fp32.onnx"))
    ops = {n.op_type for n in onnx.load(str(rebuilt / "model.fp32.onnx")).graph.node}
    assert not ops & {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QAttention"}, ops
    fp32 = OnnxClassifier.from_pretrained(rebuilt, onnx_file="model.fp32.onnx")
    assert fp32.encoder is not None
    dev = [r.text for r in split(read_many([REPO / "data" / "seed"]))["dev"]][:64]
    ids, mask = fp32.encoder(dev)
    with torch.no_grad():
        torch_logits = net.load(tiny_model)(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    gap = np.abs(fp32.logits(dev) - torch_logits)
    assert gap.max() < 0.5 and gap.mean() < 0.05, (gap.max(), gap.mean())  # only the weights' rounding is left


def test_long_comments_keep_head_and_tail(tiny_model: Path) -> None:
    served = OnnxClassifier.from_pretrained(tiny_model)
    assert served.encoder is not None
    text = "START " + "middle " * 300 + "END"
    ids = served.encoder.ids(text)
    tok = served.encoder.tokenizer
    assert len(ids) == served.encoder.max_length
    assert "start" in tok.decode(ids[:3]).lower() and "end" in tok.decode(ids[-3:]).lower()


def test_pipeline_serves_the_model_and_keeps_the_rules(tiny_model: Path) -> None:
    pipeline, components = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=tiny_model)
    assert components["model"].ok
    result = pipeline.classify("ring me on 07700 900123 you w@nker")
    assert result.source == "model" and result.model_version == "tiny-1"
    assert {"pii", "abusive"} <= set(result.labels)  # high-precision rules always count


def test_a_broken_model_means_rules_only_and_readyz_degraded(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.int8.onnx").write_bytes(b"not a model")
    from api.main import create_app
    from tests.api.conftest import make_settings

    app = create_app(make_settings(tmp_path, model_dir=broken))
    with TestClient(app) as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "degraded" and "failed to load" in ready["components"]["model"]["detail"]
        body = client.post("/classify", json={"text": "hello"}).json()
        assert body["source"] == "rules" and "failed to load" in body["fallback_reason"]


def test_service_with_a_model_is_ready_and_says_which_version(tiny_model: Path, tmp_path: Path) -> None:
    from api.main import create_app
    from tests.api.conftest import make_settings

    # The tiny model's own scores are noise; a threshold of 0 makes "query" fire whatever it scores.
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    meta = json.loads((model / "sift_model.json").read_text())
    meta["thresholds"]["query"], meta["review_bands"]["query"] = 0.0, [0.0, 0.0]
    (model / "sift_model.json").write_text(json.dumps(meta))
    app = create_app(make_settings(tmp_path, model_dir=model))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        body = client.post("/classify", json={"text": "How do I pay my rent?"}).json()
        assert body["source"] == "model" and body["model_version"] == "tiny-1"
        assert "query" in body["labels"]
        from_model = {e["target"]: e for e in body["evidence"] if e["source"] == "model:tiny-1"}
        assert from_model["query"]["detail"] == "threshold 0.00", body["evidence"]
        assert from_model["query"]["score"] == body["scores"]["query"]


def test_registry_promotes_and_rolls_back(tiny_model: Path, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    registry.root.mkdir()
    for version in ["v1", "v2"]:
        shutil.copytree(tiny_model, registry.root / version)
        meta = json.loads((registry.root / version / "sift_model.json").read_text())
        meta["version"] = version
        (registry.root / version / "sift_model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()
    registry.promote("v1")
    registry.promote("v2")
    assert registry.current() == "v2" and OnnxClassifier.from_pretrained(registry.current_link).version == "v2"
    assert registry.rollback() == "v1" and registry.current() == "v1"
    with pytest.raises(RegistryError, match="known versions: v1, v2"):
        registry.promote("v9")


def test_length_buckets_serve_the_same_scores_in_the_order_given(tiny_model: Path) -> None:
    served = OnnxClassifier.from_pretrained(tiny_model)
    assert served.encoder is not None
    texts = ["ok", "the boiler has been broken for three weeks and nobody has called me back " * 3, "thanks!",
             "when is the bin day on Acacia Road?", "😡", "rent " * 40]
    bucketed = served.logits(texts)
    one_by_one = np.vstack([served.logits([t]) for t in texts])
    ids, mask = served.encoder(texts)  # the whole batch padded together, as before bucketing
    padded = served._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    # Activation scales are fixed at export, so neighbours in a call leave a comment's integer arithmetic alone:
    # only float rounding is left (it was up to 0.18 with scales computed per call).
    assert np.abs(bucketed - one_by_one).max() < 1e-3
    assert np.abs(bucketed - padded).max() < 1e-3
    # ...and each answer is its own text's, in the order given.
    distances = np.abs(bucketed[:, None, :] - one_by_one[None, :, :]).sum(-1)
    assert list(distances.argmin(1)) == list(range(len(texts)))


def test_neighbour_drift_is_measured_and_stored_in_the_artifact(tiny_model: Path) -> None:
    meta = json.loads((tiny_model / "sift_model.json").read_text())
    assert meta["neighbour_drift"]["max_abs_prob"] <= 0.01 and meta["neighbour_drift"]["rows"] > 100


@pytest.mark.parametrize("lengths", [[5, 40, 6, 41], [3] * 70, list(range(1, 100, 7)) * 5, [64, 2]])
def test_length_buckets_keep_every_row_once_within_the_padding_budget(lengths: list[int]) -> None:
    from model.transformer import length_buckets

    groups = length_buckets(lengths, size=32, pad_budget=0.25)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        widest = max(lengths[i] for i in group)
        assert len(group) <= 32
        assert 1 - sum(lengths[i] for i in group) / (widest * len(group)) <= 0.25


@pytest.mark.slow  # trains a student model
def test_a_student_keeps_only_the_layers_asked_for_and_learns_from_its_teacher(tiny_model: Path, tiny_config: TrainingConfig,
                                                                               tmp_path: Path) -> None:
    config = tiny_config.model_copy(update={"layers": [1], "teacher": tiny_model, "epochs": 1, "train_limit": 200})
    student = Trainer(config, progress=False).train(tmp_path, version="student")
    meta = json.loads((student / "sift_model.json").read_text())
    assert json.loads((student / "encoder_config.json").read_text())["num_hidden_layers"] == 1
    assert meta["training_config"]["layers"] == [1] and meta["training_config"]["teacher"] == str(tiny_model)
    assert len(net.load(student).encoder.encoder.layer) == 1  # type: ignore[union-attr,arg-type]
    assert OnnxClassifier.from_pretrained(student).predict_proba(["my boiler is broken"])[0].keys() == set(MODEL_TARGETS)


def test_a_student_asking_for_layers_the_base_lacks_is_refused(tiny_config: TrainingConfig, tmp_path: Path) -> None:
    from training.data import DataError

    with pytest.raises(DataError, match=r"layer 5, but the base model has 2"):
        Trainer(tiny_config.model_copy(update={"layers": [0, 5]}), progress=False).train(tmp_path)
    with pytest.raises(ValueError, match="increasing order"):
        TrainingConfig(layers=[2, 0])


def test_the_served_graph_has_onnx_runtimes_transformer_fusions(tiny_model: Path) -> None:
    fusions = json.loads((tiny_model / "fusions.json").read_text())
    assert fusions.get("Attention") == 2 and fusions.get("SkipLayerNormalization", 0) >= 2, fusions  # two layers
    assert not (tiny_model / "model.fused.onnx").exists()  # only the int8 graph is shipped


@pytest.mark.parametrize("path", sorted((REPO / "training" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_training_config_is_valid(path: Path) -> None:
    from training.config import load_config

    config = load_config(path)
    if config.layers is not None:
        assert config.teacher is not None and max(config.layers) < 6  # a student of the six-layer default


def test_unlabelled_sets_teach_only_through_a_teacher(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="teach only through a teacher"):
        TrainingConfig(unlabelled={"sms_spam": tmp_path})
    with pytest.raises(ValueError, match="unknown data sets"):
        TrainingConfig(unlabelled={"nope": tmp_path}, teacher=tmp_path)


def test_unlabelled_rows_come_from_the_training_split_without_labels_and_never_from_held_out_text(tmp_path: Path) -> None:
    from training.data import IMPORT_SHARES
    from training.trainer import unlabelled_rows

    texts = [f"free entry number {i} txt WIN to 80082 now" for i in range(200)]
    (tmp_path / "SMSSpamCollection").write_text("".join(f"spam\t{t}\n" for t in texts), encoding="utf-8")
    config = TrainingConfig(unlabelled={"sms_spam": tmp_path}, teacher=tmp_path)
    from training.data import Example

    train_texts = [t for t in texts if split([Example(text=t, labels=frozenset())], IMPORT_SHARES)["train"]]
    held = train_texts[0]
    sources: dict[str, dict[str, object]] = {}
    rows = unlabelled_rows(config, {"x-dev": [Example(text=held, labels=frozenset())]}, sources)
    assert rows and {r.source for r in rows} == {"sms_spam-unlabelled"}
    assert all(not r.annotated and not r.labels for r in rows)  # only the teacher speaks to them
    assert {r.text for r in rows} == set(train_texts) - {held}  # the training split, less a held-out text
    assert sources["sms_spam-unlabelled"]["labels_used"] is False
