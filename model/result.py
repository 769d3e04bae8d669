"""The result types every classifier and rule speaks.

One result per comment with its provenance (in the manner of Presidio's
``RecognizerResult`` with ``AnalysisExplanation``): every label and flag that fired
carries its score, where it came from and the character span that fired it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

Source = Literal["model", "rules"]

_LEAVES = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """What :func:`dataclasses.asdict` makes of ``value`` (dataclasses to dicts, lists, dicts and tuples
    copied), without its ``deepcopy`` of every string and float: an answer's fields are built once per
    comment, and asdict was a fifth of ``sift batch``'s time.

    >>> plain(Evidence(target="pii", source="rules:pii", score=1.0))["score"]
    1.0
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(kind):
        names = _FIELD_NAMES.setdefault(kind, tuple(f.name for f in fields(kind)))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if kind is list:
        return [plain(v) for v in value]
    if kind is dict:
        return {plain(k): plain(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(plain(v) for v in value)
    return copy.deepcopy(value)  # anything else, as asdict does


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why one label or flag fired.

    ``source`` is ``rules:<rule name>`` or ``model:<version>``; ``start``/``end`` index
    the text the caller sent (``None`` for whole-text judgements such as the model's).
    ``category`` is the rule hit's kind (``model.rules.base``), for code to branch on.
    """

    target: str
    source: str
    score: float
    start: int | None = None
    end: int | None = None
    detail: str = ""
    entity: str | None = None  # for personal data: PHONE, EMAIL, ... (drives redaction)
    category: str = ""  # what kind of finding a rule made: threat, phone, link, staff, cue, ... ("" for the model)


@dataclass(slots=True)
class Classification:
    """Everything sift decided about one comment."""

    labels: list[str]
    scores: dict[str, float]
    flags: dict[str, bool]
    flag_scores: dict[str, float]
    needs_review: bool
    review_reasons: list[str]
    source: Source
    model_version: str | None
    evidence: list[Evidence]
    redacted_text: str
    fallback_reason: str | None = None
    steps: list[str] = field(default_factory=list)
    language: str | None = None  # ISO 639-1 code, when the text is long and clear enough to tell

    def to_dict(self) -> dict[str, Any]:
        return plain(self)  # type: ignore[no-any-return]
