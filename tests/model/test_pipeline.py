from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from model.labels import FLAGS, LABELS
from model.loader import build_pipeline, load_classifier
from model.pipeline import DecisionPolicy, InvalidTextError, Pipeline
from model.rules.base import RuleConfigError
from model.rules.engine import RulesEngine
from model.rules.files import DEFAULT_RULES_DIR


class FakeClassifier:
    version = "fake-1"
    labels = LABELS + ("spam",)
    thresholds = dict.fromkeys(LABELS + ("spam",), 0.5)
    review_bands = dict.fromkeys(LABELS + ("spam",), (0.4, 0.6))

    def __init__(self, scores: dict[str, float] | None = None, fail: bool = False):
        self.scores = scores or dict.fromkeys(self.labels, 0.05)
        self.fail = fail

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if self.fail:
            raise RuntimeError("boom")
        return [dict(self.scores) for _ in texts]


def test_result_has_a_score_for_every_label_and_both_flags(pipeline: Pipeline) -> None:
    result = pipeline.classify("Happy Christmas everyone!")
    assert set(result.scores) == set(LABELS)
    assert set(result.flags) == set(FLAGS)
    assert all(0.0 <= s <= 1.0 for s in [*result.scores.values(), *result.flag_scores.values()])
    assert result.labels == []


def test_when_no_model_is_loaded_then_rules_answer_and_say_why(pipeline: Pipeline) -> None:
    result = pipeline.classify("Waited in all day, nobody turned up")
    assert result.source == "rules" and result.model_version is None
    assert result.fallback_reason == "no learnt model is loaded"
    assert "complaint" in result.labels and "negative" in result.labels


def test_evidence_spans_point_into_the_text_sent(pipeline: Pipeline) -> None:
    text = "Ring me on ０７７００ ９００１２３ you w@nkers"
    result = pipeline.classify(text)
    by_target = {e.target: e for e in result.evidence}
    phone = by_target["pii"]
    assert text[phone.start:phone.end] == "０７７００ ９００１２３"
    abuse = by_target["abusive"]
    assert text[abuse.start:abuse.end] == "w@nkers"


def test_personal_data_is_redacted_by_type(pipeline: Pipeline) -> None:
    result = pipeline.classify("email jo@example.com or call 07700 900123, tenancy ref 00458812")
    assert result.redacted_text == "email [EMAIL] or call [PHONE], [REFERENCE]"


def test_when_a_score_is_in_the_uncertain_band_then_the_comment_needs_review(pipeline: Pipeline) -> None:
    result = pipeline.classify("those clowns")  # "clown" scores 0.6: an insult, or the fun day's entertainers
    assert result.needs_review
    assert any(r.startswith("abusive:") for r in result.review_reasons)


def test_when_the_model_fails_then_rules_take_over_visibly(rules_engine: RulesEngine) -> None:
    pipeline = Pipeline(rules_engine, FakeClassifier(fail=True))
    result = pipeline.classify("call me on 07700 900123")
    assert result.source == "rules"
    assert result.fallback_reason == "model fake-1 failed: RuntimeError"
    assert "pii" in result.labels


def test_when_the_model_answers_then_high_precision_rules_still_count(rules_engine: RulesEngine) -> None:
    pipeline = Pipeline(rules_engine, FakeClassifier())
    result = pipeline.classify("call me on 07700 900123 you w@nker")
    assert result.source == "model" and result.model_version == "fake-1"
    assert {"pii", "abusive"} <= set(result.labels)
    assert "query" not in result.labels  # cue rules do not override the model
    assert any(e.source == "model:fake-1" for e in result.evidence)


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 10_001])
def test_when_text_is_empty_or_too_long_then_a_clear_error_is_raised(pipeline: Pipeline, bad: str) -> None:
    with pytest.raises(InvalidTextError):
        pipeline.classify(bad)


def test_when_a_rule_file_has_a_bad_regex_then_loading_names_the_file_and_pattern(tmp_path: Path) -> None:
    for name in ["pii.yaml", "abuse.yaml", "spam.yaml", "cues.yaml", "staff_roles.yaml", "org.yaml"]:
        (tmp_path / name).write_text((DEFAULT_RULES_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    spam = (tmp_path / "spam.yaml").read_text(encoding="utf-8")
    (tmp_path / "spam.yaml").write_text(spam.replace("name: scam.returns, score: 0.9", "name: scam.returns, score: 1.9"),
                                        encoding="utf-8")
    with pytest.raises(RuleConfigError, match=r"spam\.yaml.*phrases\.0\.score"):
        RulesEngine.from_dir(tmp_path, staff_roster=None)


def test_when_a_roster_line_has_no_surname_then_the_error_names_the_line(tmp_path: Path) -> None:
    roster = tmp_path / "roster.txt"
    roster.write_text("Dave Wilson\nPriya\n", encoding="utf-8")
    with pytest.raises(RuleConfigError, match=r"roster\.txt:2"):
        RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=roster)


def test_when_the_model_directory_is_missing_then_the_pipeline_is_rules_only(tmp_path: Path) -> None:
    classifier, status = load_classifier(tmp_path / "nope")
    assert classifier is None and not status.ok and "answering from rules" in status.detail
    pipeline, components = build_pipeline(model_dir=tmp_path / "nope")
    assert pipeline.classifier is None and components["rules"].ok and not components["model"].ok


def test_when_the_model_directory_has_an_unknown_kind_then_status_says_so(tmp_path: Path) -> None:
    (tmp_path / "sift_model.json").write_text('{"kind": "mystery"}', encoding="utf-8")
    classifier, status = load_classifier(tmp_path)
    assert classifier is None and "unknown or missing kind" in status.detail


def test_decision_policy_rejects_a_band_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="review band"):
        DecisionPolicy(review_bands={"pii": (0.7, 0.2)})


@pytest.mark.parametrize(
    "neutral",
    ["I am a Muslim woman and I love the new community garden", "My neighbours are a lovely gay couple",
     "The Polish shop on the corner does great bread", "As a disabled tenant I'd like to know about adaptations"],
)
def test_bias_probe_neutral_identity_sentences_are_not_abusive(pipeline: Pipeline, neutral: str) -> None:
    assert "abusive" not in pipeline.classify(neutral).labels


class CountingClassifier(FakeClassifier):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.seen.extend(texts)
        return [{**self.scores, "query": 0.9 if "?" in t else 0.05} for t in texts]


def test_repeated_texts_are_scored_by_the_model_once_and_answered_alike(rules_engine: RulesEngine) -> None:
    model = CountingClassifier()
    pipeline = Pipeline(rules_engine, model, cache_size=2)  # type: ignore[arg-type]
    first = pipeline.classify_many(["When is bin day?", "thanks all", "When is bin day?"])
    again = pipeline.classify_many(["When\u200b is bin day?", "thanks all"])  # same text once normalised
    assert model.seen == ["When is bin day?", "thanks all"]
    assert [r.labels for r in first] == [["query"], [], ["query"]] and [r.labels for r in again] == [["query"], []]
    pipeline.classify_many(["a third text", "a fourth text"])  # only the two most recent are kept
    pipeline.classify_many(["thanks all", "a fourth text"])
    assert model.seen[2:] == ["a third text", "a fourth text", "thanks all"]


def test_without_a_cache_every_text_goes_to_the_model(rules_engine: RulesEngine) -> None:
    model = CountingClassifier()
    Pipeline(rules_engine, model).classify_many(["same", "same"])  # type: ignore[arg-type]
    Pipeline(rules_engine, model).classify_many(["same"])  # type: ignore[arg-type]
    assert model.seen == ["same", "same"]


def test_a_text_not_to_be_remembered_is_scored_but_never_enters_the_cache(rules_engine: RulesEngine) -> None:
    model = CountingClassifier()
    pipeline = Pipeline(rules_engine, model, cache_size=8)  # type: ignore[arg-type]
    private = pipeline.classify_many(["Is my private text kept?"], remember=[False])
    assert private[0].labels == ["query"] and model.seen == ["Is my private text kept?"]
    assert "Is my private text kept?" not in pipeline._cache
    pipeline.classify_many(["Is my private text kept?"], remember=[False])  # not looked up either: scored again
    assert model.seen == ["Is my private text kept?"] * 2 and not pipeline._cache


def test_in_a_mixed_batch_only_the_texts_that_may_be_remembered_are_cached(rules_engine: RulesEngine) -> None:
    model = CountingClassifier()
    pipeline = Pipeline(rules_engine, model, cache_size=8)  # type: ignore[arg-type]
    pipeline.classify_many(["public one", "private one", "twin"], remember=[True, False, True])
    assert list(pipeline._cache) == ["public one", "twin"]
    pipeline.classify_many(["twin"], remember=[False])  # the private twin neither reads nor refreshes the entry
    assert model.seen == ["public one", "private one", "twin", "twin"]
    with pytest.raises(ValueError, match="2 flags for 1 texts"):
        pipeline.classify_many(["one"], remember=[True, False])


def test_supported_languages_are_the_models_or_english_for_the_rules(rules_engine: RulesEngine) -> None:
    assert Pipeline(rules_engine).supported_languages == ("en",)
    model = FakeClassifier()
    model.languages = ("en", "cy")  # type: ignore[attr-defined]
    assert Pipeline(rules_engine, model).supported_languages == ("en", "cy")  # type: ignore[arg-type]


def test_a_text_not_to_be_remembered_leaves_no_word_in_the_abuse_rules_memo(rules_engine: RulesEngine) -> None:
    abuse = next(rule for rule in rules_engine.rules if rule.name == "abuse")
    pipeline = Pipeline(rules_engine)
    private = pipeline.classify_many(["Zebulon Quartermaine you absolute w@nker", "Y O U  W A N K E R Zephyrine"],
                                     remember=[False, False])
    assert all("abusive" in r.labels for r in private)  # read as ever
    memo = set(abuse._tokens) | set(abuse._spaced)  # type: ignore[attr-defined]
    assert not {"zebulon", "quartermaine", "zephyrine", "youwanker"} & memo
    pipeline.classify("Zebulon again")  # remembered as before when allowed
    assert "zebulon" in abuse._tokens  # type: ignore[attr-defined]
