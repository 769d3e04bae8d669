"""Perspective's attributes from sift's classification: the one place the mapping is defined.

Perspective (Google's Comment Analyzer API, ``comments:analyze``) scores a comment on attributes such as
TOXICITY or THREAT. sift has one label for all of these, ``abusive`` (shared/LABELS.md: swearing, insults,
harassment, threats, hate, obscenity, wishing harm), and its rules say which kind of abuse they found in each
evidence span (``model.rules.base.AbuseCategory``). The attributes are read off those two:

==================  =====================================================================================
TOXICITY            the ``abusive`` score itself (the model's calibrated probability, or the rules')
SEVERE_TOXICITY     the strongest ``hate``, ``threat`` or ``harm`` evidence, at most TOXICITY
IDENTITY_ATTACK     the strongest ``hate`` evidence, at most TOXICITY
INSULT              the strongest ``insult`` evidence, at most TOXICITY
PROFANITY           the strongest ``swear`` or ``obscene`` evidence, at most TOXICITY
THREAT              the strongest ``threat`` or ``harm`` (wishing harm) evidence, at most TOXICITY
==================  =====================================================================================

An attribute without evidence of its kind scores 0: sift names the kind of abuse only where a rule found
it. Span scores are the evidence spans (in UTF-16 code units, as Perspective counts them).

>>> from model.result import Classification, Evidence
>>> result = Classification(labels=["abusive"], scores={"abusive": 0.9}, flags={}, flag_scores={}, needs_review=False,
...     review_reasons=[], source="rules", model_version=None, redacted_text="you idiot",
...     evidence=[Evidence("abusive", "rules:abuse.insult", 0.8, 4, 9, category="insult")])
>>> attribute_score("INSULT", result)
0.8
>>> spans("INSULT", result, "you idiot")
[(4, 9, 0.8)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, get_args

from model.language import Language
from model.result import Classification, Evidence
from model.rules.base import AbuseCategory

Attribute = Literal["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"]
ATTRIBUTES: Final[tuple[Attribute, ...]] = get_args(Attribute)

# The abuse categories each attribute is read from; None: the abusive score itself.
CATEGORIES: Final[dict[Attribute, frozenset[AbuseCategory] | None]] = {
    "TOXICITY": None,
    "SEVERE_TOXICITY": frozenset({"hate", "threat", "harm"}),
    "IDENTITY_ATTACK": frozenset({"hate"}),
    "INSULT": frozenset({"insult"}),
    "PROFANITY": frozenset({"swear", "obscene"}),
    "THREAT": frozenset({"threat", "harm"}),
}
DESCRIPTIONS: Final[dict[Attribute, str]] = {
    "TOXICITY": "sift's abusive score: swearing, insults, harassment, threats, hate, obscenity or wishing harm",
    "SEVERE_TOXICITY": "hate, threats or wishing harm found by sift's rules (never above TOXICITY)",
    "IDENTITY_ATTACK": "hate aimed at a group found by sift's rules (never above TOXICITY)",
    "INSULT": "insults found by sift's rules (never above TOXICITY)",
    "PROFANITY": "swearing or obscenity found by sift's rules (never above TOXICITY)",
    "THREAT": "threats or wishing harm found by sift's rules (never above TOXICITY)",
}
ABUSIVE: Final = "abusive"
SCORE_TYPES: Final = ("PROBABILITY", "SCORE_TYPE_UNSPECIFIED")  # sift's scores are probabilities, nothing else


class PerspectiveError(ValueError):
    """A request Perspective would refuse: its message (Perspective's own words first, then what to fix),
    its ``errorType`` and any details Perspective gives beside it."""

    def __init__(self, message: str, error_type: str = "INVALID_REQUEST", extra: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.extra = extra or {}


def _evidence(attribute: Attribute, result: Classification) -> list[Evidence]:
    kinds = CATEGORIES[attribute]
    return [e for e in result.evidence if e.target == ABUSIVE and e.score > 0 and e.category
            and (kinds is None or e.category in kinds)]


def attribute_score(attribute: Attribute, result: Classification) -> float:
    """The summary score of ``attribute`` for one classified comment, in [0, 1]."""
    toxicity = float(result.scores[ABUSIVE])
    if CATEGORIES[attribute] is None:
        return toxicity
    found = max((e.score for e in _evidence(attribute, result)), default=0.0)
    return round(min(toxicity, found), 4)


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code unit offset of Python character ``index`` (Perspective's spans count UTF-16 units)."""
    return len(text[:index].encode("utf-16-le")) // 2


def spans(attribute: Attribute, result: Classification, text: str) -> list[tuple[int, int, float]]:
    """``(begin, end, score)`` for each evidence span of ``attribute`` (UTF-16 units, the best score where two
    rules marked the same span, at most the summary score), in order; the whole text with the summary score when
    no span was marked."""
    ceiling = attribute_score(attribute, result)
    best: dict[tuple[int, int], float] = {}
    for e in _evidence(attribute, result):
        if e.start is None or e.end is None:
            continue
        where = (utf16_offset(text, e.start), utf16_offset(text, e.end))
        best[where] = max(best.get(where, 0.0), round(min(e.score, ceiling), 4))
    if not best:
        return [(0, utf16_offset(text, len(text)), ceiling)]
    return [(begin, end, score) for (begin, end), score in sorted(best.items())]


def check_attributes(requested: dict[str, tuple[str | None, float | None]] | None) -> list[Attribute]:
    """The requested attributes (name -> (scoreType, scoreThreshold)), checked as Perspective checks them."""
    if not requested:
        raise PerspectiveError("Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES")
    known: list[Attribute] = []
    for name, (score_type, _) in requested.items():
        attribute = next((a for a in ATTRIBUTES if a == name), None)
        if attribute is None:
            raise PerspectiveError(f"Unknown requested attribute: {name}. sift answers {', '.join(ATTRIBUTES)}")
        if score_type is not None and score_type not in SCORE_TYPES:
            raise PerspectiveError(f"Requested score type {score_type} is not supported by attribute {name}. "
                                   "sift's scores are probabilities: send PROBABILITY or leave scoreType out")
        known.append(attribute)
    return known


def check_text(text: str | None, text_type: str | None, max_chars: int) -> str:
    """The comment's text, or Perspective's error for an empty, too long or non-plain-text comment."""
    if text_type not in (None, "TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT"):
        if text_type == "HTML":
            raise PerspectiveError("Currently, only 'PLAIN_TEXT' comments are supported; strip the HTML first")
        raise PerspectiveError(f"Unknown text type {text_type!r}; send PLAIN_TEXT or leave comment.type out")
    if text is None or not text.strip():
        raise PerspectiveError("Comment must be non-empty." + (" It holds only white space." if text else ""),
                               "COMMENT_EMPTY")
    if len(text) > max_chars:  # sift's limit; Perspective's (20 KB) is larger in bytes only for multi-byte text
        raise PerspectiveError(f"Comment text too long. sift takes at most {max_chars} characters; this one has "
                               f"{len(text)}", "COMMENT_TOO_LONG")
    return text


def primary_language(code: str) -> str:
    """``en`` for ``en``, ``en-GB``, ``EN_us`` (ISO 639-1 or BCP-47, as Perspective accepts both)."""
    return code.replace("_", "-").split("-", 1)[0].lower()


def languages(requested: Sequence[str] | None, detected: Language | None, supported: Sequence[str],
              attributes: Sequence[Attribute]) -> tuple[list[str], list[str] | None]:
    """``(languages, detectedLanguages)`` for the answer, or Perspective's error when a language is not one sift
    reads. The caller's languages win (all must be supported); without them, a reliable detection is used, and a
    text too short or mixed to tell is read as ``supported[0]`` (Perspective would refuse it)."""
    seen = [detected.code] if detected is not None and detected.reliable else None
    if requested:
        unsupported = [code for code in requested if primary_language(code) not in supported]
        if unsupported:
            raise _unsupported(attributes, list(requested), supported, seen)
        return list(requested), seen
    if seen is not None and seen[0] not in supported:
        raise _unsupported(attributes, [], supported, seen)
    return ([seen[0]] if seen else [supported[0]]), seen


def _unsupported(attributes: Sequence[Attribute], requested: list[str], supported: Sequence[str],
                 detected: list[str] | None) -> PerspectiveError:
    named = requested or detected or []
    attribute = attributes[0] if attributes else "TOXICITY"
    details: dict[str, object] = {"attribute": attribute, "requestedLanguages": requested}
    if detected:
        details["detectedLanguages"] = detected
    return PerspectiveError(f"Attribute {attribute} does not support request languages: {', '.join(named)}. "
                            f"sift reads {', '.join(supported)}", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                            extra={"languageNotSupportedByAttributeError": details})
