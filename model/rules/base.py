"""The contract every rule follows, and the validated pattern type rules are built from.

A rule is data (a compiled pattern, a word list, a score) checked when it is built,
plus an optional validator that confirms or vetoes a match (a Luhn test, a checksum),
as Presidio's ``Pattern`` and ``PatternRecognizer`` do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from pydantic import AfterValidator

from model.labels import TARGETS


def compiled_regex(value: str) -> str:
    """A pydantic validator: the value must compile as a regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regular expression does not compile: {exc}") from exc
    return value


Regex = Annotated[str, AfterValidator(compiled_regex)]


class RuleConfigError(ValueError):
    """A rule file or rule definition is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing on the normalised text (spans index the normalised text)."""

    target: str  # a label or flag
    rule: str  # e.g. "pii.phone"
    score: float
    start: int
    end: int
    detail: str = ""
    entity: str | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"hit target {self.target!r} is not one of {TARGETS}")
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


class Rule(Protocol):
    """What the rules engine asks of each detector."""

    name: str

    def find(self, text: str) -> list[Hit]:
        """Return every hit in ``text`` (already normalised)."""
        ...
