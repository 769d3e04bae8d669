"""The rules' time budget: past it, the rules stop, say where and why, and the comment goes to review.

The finding: sixteen 10,000-character comments built to be slow kept one worker busy for 77 s, and every
caller waited behind them. Each rule is now linear (``bench/rules_worst.py`` prints the growth) and a
comment's rules stop at their budget, so such a batch costs at most its size times the budget.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model.pipeline import Pipeline
from model.rules.base import Budget, BudgetExceeded, Hit
from model.rules.engine import RulesEngine

REPO = Path(__file__).resolve().parents[2]
DIGIT_GROUPS = "4111 " * 2000  # 10,000 characters the phone matcher reads slowly (about 0.7 s unbudgeted)


class _Found:
    name = "found"

    def find(self, text: str, budget: Budget, *, remember: bool = True) -> list[Hit]:
        return [Hit("pii", "found.it", 0.95, 0, 4, entity="PHONE", category="phone")]


class _Slow:
    name = "slow"

    def find(self, text: str, budget: Budget, *, remember: bool = True) -> list[Hit]:
        time.sleep(0.02)
        budget.check("slow.step")
        raise AssertionError("the budget should have stopped this rule")


class _Never:
    name = "never"

    def find(self, text: str, budget: Budget, *, remember: bool = True) -> list[Hit]:
        raise AssertionError("a rule after the cut must not run")


def test_budget_refuses_a_negative_limit() -> None:
    with pytest.raises(ValueError, match="seconds >= 0"):
        Budget(-1.0)


def test_no_budget_never_cuts() -> None:
    Budget(None, started=0.0).check("anything")


def test_a_rule_past_the_budget_is_cut_short_and_the_rest_skipped_keeping_earlier_hits() -> None:
    out = RulesEngine([_Found(), _Slow(), _Never()]).analyze("text", Budget(0.005))  # type: ignore[list-item]
    assert out.cut_short is not None
    assert out.cut_short.startswith("rules cut short at slow.step: ")
    assert out.cut_short.endswith("not run: never")
    assert [h.rule for h in out.hits] == ["found.it"]
    assert out.scores["pii"] == 0.95


def test_a_spent_budget_stops_before_the_next_rule_starts() -> None:
    out = RulesEngine([_Found(), _Never()]).analyze("text", Budget(0.0, started=time.perf_counter() - 1))  # type: ignore[list-item]
    assert out.cut_short is not None and "found (before it started)" in out.cut_short
    assert out.cut_short.endswith("not run: found, never")
    assert out.hits == []


def test_budget_exceeded_says_what_was_spent() -> None:
    with pytest.raises(BudgetExceeded, match=r"pii\.phone: \d+ ms spent, the budget is 1 ms"):
        Budget(0.001, started=time.perf_counter() - 0.5).check("pii.phone")


@pytest.fixture(scope="module")
def engine() -> RulesEngine:
    return RulesEngine.from_dir(staff_roster=REPO / "data" / "staff_roster.txt")


def test_a_slow_comment_goes_to_review_saying_which_rule_was_cut(engine: RulesEngine) -> None:
    result = Pipeline(engine, rules_budget=0.001).classify(DIGIT_GROUPS)
    assert result.needs_review
    assert result.review_reasons[0].startswith("rules cut short at pii")
    assert "not run:" in result.review_reasons[0]
    assert "rules (cut short)" in result.steps


def test_an_ordinary_comment_is_not_cut(engine: RulesEngine) -> None:
    result = Pipeline(engine).classify("Waited in all day, nobody turned up. Call me on 07700 900123")
    assert "rules" in result.steps and not any(r.startswith("rules cut short") for r in result.review_reasons)
    assert "pii" in result.labels


def test_no_budget_runs_every_rule_to_the_end(engine: RulesEngine) -> None:
    out = engine.analyze("call me on 07700 900123", Budget(None))
    assert out.cut_short is None and out.scores["pii"] >= 0.85
