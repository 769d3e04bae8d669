"""The contract every rule follows, and the validated pattern type rules are built from.

A rule is data (a compiled pattern, a word list, a score) checked when it is built,
plus an optional validator that confirms or vetoes a match (a Luhn test, a checksum),
as Presidio's ``Pattern`` and ``PatternRecognizer`` do.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, get_args

from model.labels import TARGETS, Target

# What kind of finding a hit is, by rule family: the field ``Hit.category`` (and ``Evidence.category``)
# that code branches on, rather than on rule names or details. Personal data hits use the entity
# kind in lower case (``phone``, ``email``, ``postcode``, ... : see ``model.rules.pii``).
AbuseCategory = Literal["swear", "insult", "obscene", "hate", "threat", "harm"]
SpamCategory = Literal["phrase", "link"]  # scam or advert phrasing; a suspicious link
CueCategory = Literal["cue", "veto"]  # a cue for a judgement label; a cue that scales one down
ABUSE_CATEGORIES: Final[tuple[AbuseCategory, ...]] = get_args(AbuseCategory)
SPAM_CATEGORIES: Final[tuple[SpamCategory, ...]] = get_args(SpamCategory)
CUE_CATEGORIES: Final[tuple[CueCategory, ...]] = get_args(CueCategory)
STAFF_CATEGORY: Final = "staff"


class RuleConfigError(ValueError):
    """A rule file or rule definition is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing on the normalised text (spans index the normalised text).

    ``category`` says what kind of finding it is (``threat``, ``phone``, ``link``, ``staff``, ``cue``, ...);
    ``detail`` is prose for people and is never parsed.

    >>> Hit("abusive", "abuse.threat.violence", 0.9, 0, 12, category="threat").category
    'threat'
    """

    target: Target  # a label or flag
    rule: str  # e.g. "pii.phone"
    score: float
    start: int
    end: int
    detail: str = ""
    entity: str | None = None
    category: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"hit target {self.target!r} is not one of {TARGETS}")
        if not self.category:
            raise ValueError(f"hit of rule {self.rule!r} has no category")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"hit score {self.score} is outside [0, 1]")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A named regular expression with a score, validated at construction."""

    name: str
    regex: re.Pattern[str]
    score: float

    @classmethod
    def build(cls, name: str, regex: str, score: float, *, where: str, flags: int = re.IGNORECASE) -> Pattern:
        if not isinstance(score, (int, float)) or not 0.0 <= float(score) <= 1.0:
            raise RuleConfigError(f"{where}: pattern {name!r} has score {score!r}; it must be a number in [0, 1]")
        try:
            compiled = re.compile(regex, flags)
        except re.error as exc:
            raise RuleConfigError(f"{where}: pattern {name!r} does not compile: {exc}") from exc
        return cls(name=name, regex=compiled, score=float(score))


Validator = Callable[[str], bool]


class BudgetExceeded(Exception):
    """One comment's rules ran past their time budget; ``step`` names where they were cut short."""

    def __init__(self, step: str, spent: float, limit: float) -> None:
        super().__init__(f"{step}: {spent * 1000:.0f} ms spent, the budget is {limit * 1000:.0f} ms")
        self.step, self.spent, self.limit = step, spent, limit


class Budget:
    """The time one comment's rules may take. Rules call :meth:`check` between steps whose cost grows with
    the text (each pattern, each candidate match); past the budget it raises :class:`BudgetExceeded`, which
    the engine turns into a result that says which step was cut short and goes to review.

    Every rule is linear in its input (``bench/rules_worst.py`` prints the growth); the budget bounds the
    constant: a 10,000-character comment of digit groups costs the phone matcher about 0.7 s.

    >>> Budget(None).check("pii.phone")  # no limit: never raises
    """

    __slots__ = ("limit", "started")

    def __init__(self, seconds: float | None, *, started: float | None = None) -> None:
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"a rules budget must be a number of seconds >= 0 or None, got {seconds!r}")
        self.limit = seconds
        self.started = time.perf_counter() if started is None else started

    def spent(self) -> float:
        return time.perf_counter() - self.started

    def check(self, step: str) -> None:
        if self.limit is not None:
            spent = self.spent()
            if spent > self.limit:
                raise BudgetExceeded(step, spent, self.limit)


UNLIMITED = Budget(None, started=0.0)


class Spans:
    """Disjoint half-open character spans, kept sorted, so "does this overlap one kept?" costs a bisection
    rather than a pass over all of them (rules with many hits stay linear in the comment).

    >>> kept = Spans()
    >>> kept.add(5, 9)
    >>> kept.overlaps(8, 12), kept.overlaps(9, 12), kept.overlaps(0, 5)
    (True, False, False)
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_right(self._starts, start)
        return bool((i and self._ends[i - 1] > start) or (i < len(self._starts) and self._starts[i] < end))

    def add(self, start: int, end: int) -> None:
        """Keep a span that overlaps none kept (the caller checks with :meth:`overlaps`)."""
        i = bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


class Rule(Protocol):
    """What the rules engine asks of each detector."""

    name: str

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        """Return every hit in ``text`` (already normalised); call ``budget.check(step)`` between costly steps.
        ``remember=False``: keep nothing of ``text`` once answered (no memo of its words)."""
        ...
