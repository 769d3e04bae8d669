"""The result types every classifier and rule speaks.

One result per comment with its provenance (in the manner of Presidio's
``RecognizerResult`` with ``AnalysisExplanation``): every label and flag that fired
carries its score, where it came from and the character span that fired it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["model", "rules"]


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
        return asdict(self)
