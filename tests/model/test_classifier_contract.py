"""The contract every classifier meets (as scikit-learn's ``check_estimator``): each registered kind, loaded
from an artifact of that kind, and each fake the tests hand the pipeline in its place.

``model.classifier.Classifier``: a version, ``labels`` drawn from the product's targets, thresholds and
review bands for those labels within [0, 1], and ``predict_proba`` answering each text with exactly its
labels' scores, floats in [0, 1], in the order given.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from model.classifier import MODEL_META_FILE, Classifier, ClassifierError
from model.labels import TARGETS
from model.loader import CLASSIFIER_KINDS
from tests.api.test_perspective import PerspectiveModel
from tests.model.test_language import EnglishModel
from tests.model.test_pipeline import CountingClassifier, FakeClassifier

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"

# An artifact of each registered kind; a kind added to model.loader.CLASSIFIER_KINDS needs one here.
ARTIFACTS: dict[str, Path] = {"sift-transformer": REPO / "data" / "release"}
# Every class under tests/ with a predict_proba, standing in for a learnt model.
FAKES: dict[str, Callable[[], object]] = {
    "FakeClassifier": FakeClassifier,
    "CountingClassifier": CountingClassifier,
    "EnglishModel": EnglishModel,
    "PerspectiveModel": PerspectiveModel,
}

LONG = ("the boiler has been broken for three weeks and nobody has called me back, " * 200)[:10_000]  # the API's limit
TEXT_LISTS = {
    "none": [],
    "one": ["How do I pay my rent?"],
    "unicode": ["Ｗｈｙ is nobody home 😡😡", "ça ne marche pas, personne n'est venu", "Zażółć gęślą jaźń", "你好，电梯坏了",
                "الرجاء الاتصال بي", "zero\u200bwidth\ufeff and e\u0301 combining", "🖕"],
    "long": [LONG],
    "mixed": ["thanks!", LONG, "call me on 07700 900123", "thanks!"],
}


def _load_kind(kind: str) -> Classifier:
    if kind not in ARTIFACTS:
        pytest.fail(f"classifier kind {kind!r} is registered but the contract test has no artifact of it: add one to ARTIFACTS")
    return CLASSIFIER_KINDS[kind](ARTIFACTS[kind], 1)


CASES = [pytest.param(("kind", kind), id=f"kind:{kind}") for kind in sorted(CLASSIFIER_KINDS)] + \
        [pytest.param(("fake", name), id=f"fake:{name}") for name in FAKES]


@pytest.fixture(scope="module", params=CASES)
def classifier(request: pytest.FixtureRequest) -> object:
    what, name = request.param
    return _load_kind(name) if what == "kind" else FAKES[name]()


def test_it_is_a_classifier_with_a_version(classifier: object) -> None:
    assert isinstance(classifier, Classifier)
    assert isinstance(classifier.version, str) and classifier.version


def test_its_labels_are_a_tuple_of_known_targets_without_repeats(classifier: Classifier) -> None:
    assert isinstance(classifier.labels, tuple) and classifier.labels
    assert set(classifier.labels) <= set(TARGETS), set(classifier.labels) - set(TARGETS)
    assert len(set(classifier.labels)) == len(classifier.labels)


def _unit(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def test_its_thresholds_and_review_bands_are_for_its_labels_and_within_zero_one(classifier: Classifier) -> None:
    assert set(classifier.thresholds) <= set(classifier.labels), set(classifier.thresholds) - set(classifier.labels)
    assert set(classifier.review_bands) <= set(classifier.labels), set(classifier.review_bands) - set(classifier.labels)
    for label, threshold in classifier.thresholds.items():
        assert _unit(threshold), (label, threshold)
    for label, band in classifier.review_bands.items():
        low, high = band
        assert _unit(low) and _unit(high) and low <= high, (label, band)


@pytest.mark.parametrize("texts", list(TEXT_LISTS.values()), ids=list(TEXT_LISTS))
def test_predict_proba_answers_each_text_with_a_score_in_zero_one_for_exactly_its_labels(classifier: Classifier,
                                                                                          texts: list[str]) -> None:
    answers = classifier.predict_proba(texts)
    assert isinstance(answers, list) and len(answers) == len(texts)
    for text, scores in zip(texts, answers, strict=True):
        assert isinstance(scores, dict) and set(scores) == set(classifier.labels), (text[:40], scores)
        for label, score in scores.items():
            assert isinstance(score, float) and not math.isnan(score) and 0.0 <= score <= 1.0, (text[:40], label, score)


@pytest.mark.parametrize("kind", sorted(CLASSIFIER_KINDS))
def test_a_registered_kind_reads_its_labels_thresholds_and_bands_from_its_artifact(kind: str) -> None:
    classifier = _load_kind(kind)
    meta = json.loads((ARTIFACTS[kind] / MODEL_META_FILE).read_text(encoding="utf-8"))
    assert meta["kind"] == kind
    assert classifier.version == meta["version"] and classifier.labels == tuple(meta["labels"])
    assert classifier.thresholds == meta["thresholds"]
    assert classifier.review_bands == {label: tuple(band) for label, band in meta["review_bands"].items()}


@pytest.mark.parametrize("kind", sorted(CLASSIFIER_KINDS))
def test_a_registered_kind_used_before_loading_says_so(kind: str) -> None:
    unloaded = type(_load_kind(kind))()  # the cheap constructor; loading is from_pretrained's
    with pytest.raises(ClassifierError, match="before loading"):
        unloaded.predict_proba(["hello"])


def test_every_fake_classifier_in_the_tests_is_checked_here() -> None:
    found = set()
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(isinstance(item, ast.FunctionDef) and item.name == "predict_proba"
                                                      for item in node.body):
                found.add(node.name)
    assert found == set(FAKES), f"add {sorted(found - set(FAKES))} to FAKES" if found - set(FAKES) else found
