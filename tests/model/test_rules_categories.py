"""Every rule hit says what kind of finding it is (``Hit.category``), and the engine branches on that, not on names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.pipeline import Pipeline
from model.rules.base import ABUSE_CATEGORIES, CUE_CATEGORIES, SPAM_CATEGORIES, STAFF_CATEGORY, Hit
from model.rules.engine import RulesEngine
from tests.model.test_rules_table import ABUSE, CUES, PII, SPAM, STAFF

SEED = Path(__file__).resolve().parents[2] / "data" / "seed"
PII_CATEGORIES = ("email", "card", "iban", "bank_account", "nino", "dob", "reference", "phone", "address", "postcode", "person",
                  "vulnerability")
# Rule family (the start of the rule name) -> the categories its hits may carry.
FAMILIES = {"abuse": ABUSE_CATEGORIES, "pii": PII_CATEGORIES, "spam": SPAM_CATEGORIES, "staff": (STAFF_CATEGORY,),
            "cues": CUE_CATEGORIES}


def _texts() -> list[str]:
    seed = [json.loads(line)["text"] for path in sorted(SEED.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row[0] for row in (*PII, *ABUSE, *SPAM, *STAFF, *CUES)] + seed


def test_every_hit_has_a_category_of_its_rule_family(rules_engine: RulesEngine) -> None:
    seen: set[str] = set()
    for text in _texts():
        for hit in rules_engine.analyze(text).hits:
            family = hit.rule.split(".", 1)[0]
            assert hit.category in FAMILIES[family], (hit.rule, hit.category)
            seen.add(hit.category)
    assert {"threat", "harm", "hate", "swear", "insult", "phone", "email", "postcode", "phrase", "link", "staff", "cue",
            "veto"} <= seen


@pytest.mark.parametrize(("text", "category"), [
    ("I'll smash the office up", "threat"),
    ("go back where you came from", "hate"),
    ("useless sh1te service", "swear"),
    ("call me on 07700 900123", "phone"),
    ("verify your account at faceb00k-help.com", "link"),
    ("Dave Wilson never turned up again", "staff"),
])
def test_a_rule_hit_reaches_the_evidence_with_its_category(pipeline: Pipeline, text: str, category: str) -> None:
    evidence = pipeline.classify(text).evidence
    assert category in [e.category for e in evidence if e.source.startswith("rules:")]
    assert all(e.category == "" for e in evidence if e.source.startswith("model:"))


def test_a_negated_insult_is_recognised_by_its_category_not_its_detail(rules_engine: RulesEngine) -> None:
    hits = [h for h in rules_engine.analyze("they aren't scum").hits if h.target == "abusive"]
    assert hits and all(h.category == "insult" and h.score == 0.4 and "negated" in h.detail for h in hits)


def test_a_hit_without_a_category_is_refused() -> None:
    with pytest.raises(ValueError, match="no category"):
        Hit("abusive", "abuse.swear", 0.9, 0, 4, category="")
