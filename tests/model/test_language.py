"""A comment in a language the model was not trained for goes to review instead of being guessed at."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from model.labels import LABELS
from model.language import LanguageDetector
from model.pipeline import Pipeline
from model.rules.engine import RulesEngine

FRENCH = "Bonjour, mon chauffage ne marche pas depuis une semaine, personne n'est venu"
WELSH = "Mae fy nghartref yn oer iawn ers wythnos ac nid oes neb wedi dod"
ENGLISH = "@BrookvaleHomes my heating has been broken for a week and nobody has come out"


class EnglishModel:
    version = "en-1"
    labels = LABELS + ("spam",)
    thresholds = dict.fromkeys(labels, 0.5)
    review_bands = dict.fromkeys(labels, (0.5, 0.5))
    languages = ("en",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.seen.extend(texts)
        return [{**dict.fromkeys(self.labels, 0.01), "complaint": 0.9} for _ in texts]


def test_detector_names_clear_languages_and_declines_to_guess_on_short_text() -> None:
    detector = LanguageDetector()
    assert detector.detect(FRENCH).code == "fr" and detector.detect(FRENCH).reliable
    assert detector.detect(WELSH).code == "cy" and detector.detect(WELSH).reliable
    assert detector.detect(ENGLISH).code == "en"
    assert not detector.detect("lol").reliable and not detector.detect("thanks x 👍").reliable
    assert detector.detect("@user merci beaucoup").code == "und"  # too few letters to say, nor to act on


def test_a_text_too_short_to_act_on_is_not_scored_and_long_enough_ones_are(monkeypatch: pytest.MonkeyPatch) -> None:
    import model.language as module

    calls: list[str] = []
    real = module._identifier()

    class Counting:
        def classify(self, text: str) -> tuple[str, float]:
            calls.append(text)
            return real.classify(text)  # type: ignore[return-value]

    monkeypatch.setattr(module, "_identifier", lambda: Counting())
    detector = LanguageDetector()
    assert detector.detect("thanks x 👍 @user https://t.co/x").code == "und" and calls == []
    assert detector.detect(FRENCH).code == "fr" and len(calls) == 1


def test_foreign_comment_skips_the_model_and_goes_to_review_with_the_reason(rules_engine: RulesEngine) -> None:
    model = EnglishModel()
    pipeline = Pipeline(rules_engine, model, languages=LanguageDetector())
    french, english = pipeline.classify_many([FRENCH, ENGLISH])
    assert french.language == "fr" and french.source == "rules" and french.needs_review
    assert french.review_reasons[0].startswith("language: the comment reads as 'fr'")
    assert "trained on en only" in (french.fallback_reason or "")
    assert english.language == "en" and english.source == "model" and "complaint" in english.labels
    assert model.seen == [ENGLISH]  # the model never saw the French


def test_without_a_model_a_foreign_comment_still_goes_to_review(rules_engine: RulesEngine) -> None:
    result = Pipeline(rules_engine, languages=LanguageDetector()).classify(WELSH)
    assert result.source == "rules" and result.needs_review and result.language == "cy"
    assert "English" in result.review_reasons[0]


def test_short_or_unclear_text_is_left_to_the_model(rules_engine: RulesEngine) -> None:
    result = Pipeline(rules_engine, EnglishModel(), languages=LanguageDetector()).classify("lol ok")
    assert result.language is None and result.source == "model"
