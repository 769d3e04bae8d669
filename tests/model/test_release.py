"""The release model shipped in data/release: served by default, and holding up on the held-out probes.

These run the real int8 model (a second or two). Figures are asserted with room for the int8
numerics of CPUs with and without AVX-512 VNNI; the exact figures are in the card and `sift evaluate`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.loader import build_pipeline
from model.pipeline import Pipeline
from service.settings import RELEASE_MODEL_DIR, Settings

REPO = Path(__file__).resolve().parents[2]
PROBES = REPO / "data" / "probes"


@pytest.fixture(scope="module")
def release() -> Pipeline:
    pipeline, status = build_pipeline(staff_roster=REPO / "data" / "staff_roster.txt", model_dir=RELEASE_MODEL_DIR)
    assert status["model"].ok, status["model"].detail
    return pipeline


def _probes(name: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (PROBES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_a_fresh_install_serves_the_shipped_release(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path / "var", secret_key="t").effective_model_dir == RELEASE_MODEL_DIR
    meta = json.loads((RELEASE_MODEL_DIR / "sift_model.json").read_text())
    assert meta["text_normalization"] == "platform-v1" and meta["languages"] == ["en"]
    assert {"olid-dev", "banking77-dev", "tweeteval-sentiment-dev", "seed-test"} <= set(meta["metrics"])
    size = sum(p.stat().st_size for p in RELEASE_MODEL_DIR.iterdir())
    assert size <= 30 * 2**20, f"the release artifact is {size / 2**20:.1f} MB; the limit is 30 MB"
    assert not (RELEASE_MODEL_DIR / "model.safetensors").exists()  # the fp32 weights are rebuilt, not shipped


def test_identity_terms_and_counter_speech_raise_no_false_alarms(release: Pipeline) -> None:
    rows = _probes("identity_counterspeech.jsonl")
    results = release.classify_many([r["text"] for r in rows])
    clean = [res for r, res in zip(rows, results, strict=True) if "abusive" not in r["labels"]]
    hate = [res for r, res in zip(rows, results, strict=True) if r["kind"] == "hate_control"]
    false_alarms = sum("abusive" in res.labels for res in clean) / len(clean)
    caught = sum("abusive" in res.labels for res in hate) / len(hate)
    assert false_alarms <= 0.05, f"abusive on {false_alarms:.1%} of {len(clean)} clean probes"
    assert caught >= 0.6, f"only {caught:.0%} of {len(hate)} hate controls flagged"  # it still sees hate


IDENTITIES = ["gay", "lesbian", "trans", "bisexual", "Black", "Asian", "white", "Muslim", "Jewish", "Sikh", "Hindu",
              "Christian", "Polish", "Romanian", "Irish", "Nigerian", "disabled", "deaf", "autistic", "elderly", "a refugee",
              "an immigrant", "a Traveller"]
NEGATED = "being {x} has nothing to do with it, the damp is the problem"
TEMPLATES = ["I'm {x} and I love living on the Meadowbank estate",
             "my neighbour is {x} and honestly she's the kindest person on our street",
             "@BrookvaleHousing is the community room free on Saturday for a {x} support group?",
             NEGATED]  # release 20261201-210135-675c78 missed this one (an identity term moved 'gay' from 0.01 to 0.50)


@pytest.mark.parametrize("template", TEMPLATES)
def test_an_identity_term_alone_does_not_raise_the_abusive_score(release: Pipeline, template: str) -> None:
    texts = [template.format(x=x).replace("a a ", "a ").replace("a an ", "an ") for x in IDENTITIES]
    scores = [res.scores["abusive"] for res in release.classify_many(texts)]
    threshold = release.classifier.thresholds["abusive"]  # type: ignore[union-attr]
    assert max(scores) < threshold, dict(zip(IDENTITIES, scores, strict=True))
    assert max(scores) - min(scores) <= 0.25, dict(zip(IDENTITIES, scores, strict=True))


def test_a_comments_scores_do_not_depend_on_its_batch_neighbours() -> None:
    """Issue 12: with activation scales computed per call, a neighbour moved a score by up to 0.49 (probability)."""
    from model.transformer import OnnxClassifier
    from training.quantise import neighbour_drift

    comments = [json.loads(line)["text"] for path in sorted((REPO / "data" / "seed").glob("*.jsonl"))
                for line in path.read_text(encoding="utf-8").splitlines()[:8] if line.strip()]
    drift = neighbour_drift(OnnxClassifier.from_pretrained(RELEASE_MODEL_DIR), comments)
    assert drift["max_abs_prob"] <= 0.01, drift


def test_the_release_records_how_it_was_quantised_and_how_close_it_is() -> None:
    meta = json.loads((RELEASE_MODEL_DIR / "sift_model.json").read_text())
    q = meta["quantisation"]
    assert q["method"] == "static-activations" and q["calibration"]["rows"] >= 512
    assert meta["parity"]["decision_agreement"] >= 0.985 and meta["neighbour_drift"]["max_abs_prob"] <= 0.01
    if "rebuilt" in meta["parity"]["reference"]:  # requantised from an int8 graph (no PyTorch weights were kept)
        check = q["reference"]["rebuild_check"]  # the rebuilt fp32 graph gives back the shipped weights exactly
        assert check["identical_after_requantising"] == check["quantized_weight_tensors"] > 0
    else:  # quantised at training time: parity is to the PyTorch network it was trained as
        assert meta["parity"]["reference"] == "pytorch" and "PyTorch" in q["reference"]["kind"]
