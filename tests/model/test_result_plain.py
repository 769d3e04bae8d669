"""``plain`` is ``dataclasses.asdict`` without the deepcopy: the same answer, field for field, and a copy."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from model.pipeline import Pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.result import plain

TEXTS = [
    "@HousingHelp my boiler's been broken 3 weeks and nobody rings back. disgusting service #fuming",
    "Call me on 07700 900123 or email jo.bloggs@example.com about the repair",
    "thanks so much to the team who fixed the leak today!!",
    "you useless idiots, i'll smash the office up",
    "WIN a FREE iPhone!!! click http://bit.ly/x1 now",
]


@pytest.mark.parametrize("text", TEXTS)
def test_plain_gives_what_asdict_gives_for_a_classification_and_its_decision(pipeline: Pipeline, text: str) -> None:
    result = pipeline.classify(text)
    decision = PolicyEngine(load_policy()).decide(result, text, now=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert result.to_dict() == asdict(result)
    assert decision.to_dict() == asdict(decision)
    assert decision.public_fields() == {k: asdict(decision)[k] for k in ("actions", "route_to", "priority", "reply_templates", "sla")}


def test_plain_copies_containers_so_the_answer_cannot_change_the_result(pipeline: Pipeline) -> None:
    result = pipeline.classify(TEXTS[0])
    data = result.to_dict()
    data["labels"].append("spam")
    data["scores"]["query"] = -1.0
    if data["evidence"]:
        data["evidence"][0]["score"] = -1.0
    assert "spam" not in result.labels
    assert result.scores.get("query") != -1.0
    assert all(e.score != -1.0 for e in result.evidence)


def test_plain_keeps_tuples_and_copies_what_it_does_not_know() -> None:
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    out = plain({"a": (1, [2, 3]), "when": stamp})
    assert out == {"a": (1, [2, 3]), "when": stamp}
    assert isinstance(out["a"], tuple)
