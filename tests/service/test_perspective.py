"""The Perspective attribute mapping (service.perspective): each attribute from sift's score and evidence."""

from __future__ import annotations

import pytest

from model.language import Language
from model.result import Classification, Evidence
from service.perspective import (
    ATTRIBUTES,
    PerspectiveError,
    attribute_score,
    check_attributes,
    check_text,
    languages,
    spans,
    utf16_offset,
)


def _result(abusive: float, *evidence: Evidence) -> Classification:
    return Classification(labels=["abusive"] if abusive >= 0.5 else [], scores={"abusive": abusive}, flags={},
                          flag_scores={}, needs_review=False, review_reasons=[], source="rules", model_version=None,
                          evidence=list(evidence), redacted_text="")


def _hit(category: str, score: float, start: int | None = 0, end: int | None = 5, target: str = "abusive") -> Evidence:
    return Evidence(target, f"rules:abuse.{category}", score, start, end, category=category)


MIXED = _result(0.95, _hit("swear", 0.9, 4, 11), _hit("insult", 0.8, 12, 17), _hit("threat", 0.9, 19, 29),
                _hit("hate", 0.7, 40, 60))


@pytest.mark.parametrize(("attribute", "expected"), [
    ("TOXICITY", 0.95),          # the abusive score itself
    ("SEVERE_TOXICITY", 0.9),    # the strongest of hate, threat, harm
    ("IDENTITY_ATTACK", 0.7),    # hate
    ("INSULT", 0.8),             # insult
    ("PROFANITY", 0.9),          # swear or obscene
    ("THREAT", 0.9),             # threat or harm
])
def test_each_attribute_reads_its_own_kinds_of_evidence(attribute: str, expected: float) -> None:
    assert attribute_score(attribute, MIXED) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("attribute", [a for a in ATTRIBUTES if a != "TOXICITY"])
def test_an_attribute_is_never_above_toxicity(attribute: str) -> None:
    """The model can judge the comment less abusive than a rule's word hit (quoted, ironic): the kind of
    abuse never outscores the judgement that it is abuse at all."""
    lowered = _result(0.3, *MIXED.evidence)
    assert attribute_score(attribute, lowered) <= 0.3  # type: ignore[arg-type]


def test_without_evidence_of_its_kind_an_attribute_scores_zero() -> None:
    only_swearing = _result(0.9, _hit("swear", 0.9))
    assert attribute_score("THREAT", only_swearing) == 0.0
    assert attribute_score("SEVERE_TOXICITY", only_swearing) == 0.0  # swearing alone is not severe
    assert attribute_score("PROFANITY", only_swearing) == 0.9


def test_harm_counts_as_a_threat_and_as_severe() -> None:
    wish = _result(0.9, _hit("harm", 0.9))
    assert attribute_score("THREAT", wish) == attribute_score("SEVERE_TOXICITY", wish) == 0.9


def test_evidence_for_other_targets_and_the_models_whole_text_judgement_give_no_span() -> None:
    result = _result(0.8, Evidence("abusive", "model:m1", 0.8), _hit("phone", 0.9, target="pii"))
    assert attribute_score("INSULT", result) == 0.0
    assert spans("TOXICITY", result, "call me on 07700 900123") == [(0, 23, 0.8)]  # the whole text


def test_spans_are_sorted_merged_and_capped_at_the_summary_score() -> None:
    text = "x" * 70
    result = _result(0.85, _hit("threat", 0.9, 19, 29), _hit("swear", 0.9, 4, 11), _hit("insult", 0.6, 4, 11))
    assert spans("TOXICITY", result, text) == [(4, 11, 0.85), (19, 29, 0.85)]
    assert spans("INSULT", result, text) == [(4, 11, 0.6)]


def test_spans_count_utf16_code_units_as_perspective_does() -> None:
    text = "😡😡 you idiot"  # each emoji is one Python character and two UTF-16 code units
    result = _result(0.8, _hit("insult", 0.8, 7, 12))
    assert text[7:12] == "idiot"
    assert spans("INSULT", result, text) == [(9, 14, 0.8)]
    assert utf16_offset(text, len(text)) == len(text) + 2


@pytest.mark.parametrize(("requested", "message", "kind"), [
    (None, "Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES"),
    ({}, "Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES"),
    ({"TOXICITY": (None, None), "FLIRTATION": (None, None)}, "Unknown requested attribute: FLIRTATION", "INVALID_REQUEST"),
    ({"toxicity": (None, None)}, "Unknown requested attribute: toxicity", "INVALID_REQUEST"),
    ({"TOXICITY": ("STD_DEV_SCORE", None)}, "Requested score type STD_DEV_SCORE is not supported by attribute TOXICITY",
     "INVALID_REQUEST"),
])
def test_attributes_are_refused_in_perspectives_words(requested: dict | None, message: str, kind: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PerspectiveError) as refused:
        check_attributes(requested)
    assert refused.value.message.startswith(message) and refused.value.error_type == kind


def test_known_attributes_and_probability_scores_pass() -> None:
    assert check_attributes({"THREAT": ("PROBABILITY", 0.5), "INSULT": (None, None)}) == ["THREAT", "INSULT"]


@pytest.mark.parametrize(("text", "kind", "message"), [
    (None, None, "Comment must be non-empty."),
    ("", None, "Comment must be non-empty."),
    (" \n\t", None, "Comment must be non-empty. It holds only white space."),
    ("x" * 101, None, "Comment text too long. sift takes at most 100 characters"),
    ("é" * 100, None, None),
    ("<b>hi</b>", "HTML", "Currently, only 'PLAIN_TEXT' comments are supported"),
    ("hi", "MARKDOWN", "Unknown text type"),
])
def test_text_is_checked_as_perspective_checks_it(text: str | None, kind: str | None, message: str | None) -> None:
    if message is None:
        assert check_text(text, kind, 100) == text
        return
    with pytest.raises(PerspectiveError) as refused:
        check_text(text, kind, 100)
    assert refused.value.message.startswith(message)


def test_the_limit_counts_characters_as_the_rest_of_sift_does() -> None:
    assert check_text("😡" * 100, None, 100) == "😡" * 100  # 400 bytes, 100 characters
    with pytest.raises(PerspectiveError, match="Comment text too long") as refused:
        check_text("😡" * 101, None, 100)
    assert refused.value.error_type == "COMMENT_TOO_LONG"


FRENCH = Language("fr", 0.99, True)
ENGLISH = Language("en", 0.99, True)
UNSURE = Language("de", 0.4, False)


@pytest.mark.parametrize(("requested", "detected", "expected"), [
    (["en"], None, (["en"], None)),
    (["en-GB", "EN"], ENGLISH, (["en-GB", "EN"], ["en"])),  # BCP-47 and case, echoed as sent
    (["en"], FRENCH, (["en"], ["fr"])),  # the caller's word wins
    (None, ENGLISH, (["en"], ["en"])),
    (None, UNSURE, (["en"], None)),  # too short or mixed to tell: read as sift's first language
    (None, None, (["en"], None)),
])
def test_languages_answered(requested: list[str] | None, detected: Language | None,
                            expected: tuple[list[str], list[str] | None]) -> None:
    assert languages(requested, detected, ("en",), ["TOXICITY"]) == expected


@pytest.mark.parametrize(("requested", "detected", "named"), [(["fr"], None, "fr"), (["en", "de"], None, "en, de"),
                                                              (None, FRENCH, "fr")])
def test_a_language_sift_does_not_read_is_refused_as_perspective_refuses_it(requested: list[str] | None,
                                                                             detected: Language | None, named: str) -> None:
    with pytest.raises(PerspectiveError) as refused:
        languages(requested, detected, ("en",), ["THREAT", "TOXICITY"])
    assert refused.value.message.startswith(f"Attribute THREAT does not support request languages: {named}")
    assert refused.value.error_type == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert refused.value.extra["languageNotSupportedByAttributeError"]["attribute"] == "THREAT"  # type: ignore[index]
