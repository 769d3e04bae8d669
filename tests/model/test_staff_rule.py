"""The staff rule finds a role near a first name by bisecting word spans found once per comment: the same
hits as reading the words before and after each name afresh (the old way, quadratic in the comment)."""

from __future__ import annotations

import random
import re

import pytest

from model.rules.engine import RulesEngine
from model.rules.staff import _WORD, StaffRule


def _reference_role_near(rule: StaffRule, text: str, start: int, end: int) -> bool:
    """The former implementation: tokenise the text before and after the name for every name."""
    assert rule._role is not None
    before, after = text[:start], text[end:]
    words_before = list(_WORD.finditer(before))
    left = words_before[-rule._window].start() if len(words_before) >= rule._window else 0
    words_after = list(_WORD.finditer(after))
    right = end + (words_after[rule._window - 1].end() if len(words_after) >= rule._window else len(after))
    return bool(rule._role.search(text[left:start] + " " + text[end:right]))


@pytest.fixture(scope="module")
def staff(rules_engine: RulesEngine) -> StaffRule:
    return next(rule for rule in rules_engine.rules if isinstance(rule, StaffRule))


def test_role_lookup_agrees_with_reading_the_words_afresh(staff: StaffRule) -> None:
    rng = random.Random(7)
    pieces = ["Dave", "dave", "Tom", "Priya", "from", "repairs", "the", "surveyor", "Mrs", "Shah", "o'tom", "tom-smith",
              "dave's", "--", "!!", "said", "came", "round", "x", "a", "customer services", "re-pairs", "'", "-", "7"]
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        if rng.random() < 0.3:
            text = text.replace(" ", rng.choice(["", "-", "'", ",", "  "]), rng.randint(0, 3))
        lowered = text.lower()
        words = [m.span() for m in _WORD.finditer(lowered)]
        starts = [w[0] for w in words]
        for pattern in (staff._first, staff._titled):
            assert pattern is not None
            for m in pattern.finditer(lowered):
                assert staff._role_near(lowered, m.start(), m.end(), words, starts) == \
                    _reference_role_near(staff, lowered, m.start(), m.end()), (text, m.group())


def test_a_comment_of_thousands_of_first_names_still_finds_the_one_with_a_role(staff: StaffRule) -> None:
    text = "Tom " * 2500 + "Dave from repairs"
    hits = staff.find(text)
    assert text[hits[-1].start:hits[-1].end] == "Dave"
    assert len(hits) <= staff._window + 1  # only the names within the role's window of words
    assert not re.search(r"staff", " ".join(h.rule for h in staff.find("Tom " * 2500)))
