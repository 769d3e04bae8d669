"""Coral's external moderation phases: its request and answer, and how a sift decision maps onto them.

Coral (coralproject/talk) POSTs each new or edited comment to the phase's callback URL and waits up to the
phase's timeout for an answer (``server/src/core/server/services/comments/pipeline/phases/external.ts`` and
``EXTERNAL_MODERATION_PHASES.md`` in its repository). The body is ``JSON.stringify(request, null, 2)``, signed
like its webhooks: ``X-Coral-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the phase's
signing secret>``, one ``sha256=`` entry per active secret, joined by ``,`` (two while a rotated secret is still
active; ``models/settings/signingSecret/helpers.ts``). Coral signs no timestamp.

Coral reads the answer as (its Joi schema, ``stripUnknown``, so extra keys are dropped, unknown values refused):

- 204, an empty body or ``{}``: nothing to say, the pipeline goes on;
- ``status``: NONE, APPROVED, REJECTED, PREMOD or SYSTEM_WITHHELD, which ends the pipeline;
- ``actions``: flags, ``{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC" | "COMMENT_DETECTED_SPAM"}``;
- ``tags``: FEATURED or STAFF;
- since Coral 9 (pull request #4516, the DSA features) also ``moderationAction``:
  ``{"status": "REJECTED", "rejectionReason": {"code": ..., "detailedExplanation": ..., "customReason": ...}}``.

Any other status code, a timeout or a body that fails the schema is logged by Coral and skipped. Everything
here is pure: no HTTP, no database (``api.routes.coral`` does those).

    request = CoralRequest.model_validate_json(raw)
    submission = to_submission(request)          # None when the comment has no words to read
    answer = to_answer(decided)                  # None: answer 204
"""

from __future__ import annotations

import hashlib
import hmac
import re
from html.parser import HTMLParser
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model.labels import RemovalReason
from model.policy.engine import REMOVALS
from service.comments import Decided, Submission

SIGNATURE_HEADER = "X-Coral-Signature"
SIGNATURE_SCHEME = "sha256"

Status = Literal["NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"]
FlagReason = Literal["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"]
RejectionCode = Literal["ABUSIVE", "SPAM", "OTHER"]  # of Coral's REJECTION_REASON_CODE, the ones sift can mean

# What a removal is counted as in sift (model.labels.RemovalReason) -> Coral's rejection code; any other is OTHER.
REJECTION_CODES: dict[RemovalReason, RejectionCode] = {"abusive": "ABUSIVE", "spam": "SPAM"}
OTHER_REASONS: dict[RemovalReason, str] = {"pii": "personal details", "staff_named": "names a member of staff"}


# -- the request -----------------------------------------------------------------------------------------
class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer Coral may send more; what sift reads is checked


class CoralComment(_Part):
    body: str = Field(description="the comment, HTML or plain text as the phase's Comment Body Format says")
    parentID: str | None = Field(None, max_length=200, description="the comment it replies to; null for a top-level one")
    id: str | None = Field(None, max_length=200, description="not sent by Coral today (the comment is not created yet); "
                                                               "kept as the record's id if a version sends it")


class CoralAuthor(_Part):
    id: str = Field(max_length=200)
    role: str | None = Field(None, description="COMMENTER, MEMBER, EXPERT, STAFF, MODERATOR or ADMIN")


class CoralStory(_Part):
    id: str
    url: str = Field(max_length=2000)


class CoralSite(_Part):
    id: str


class CoralRequest(_Part):
    """An External Moderation Request, as ``external.ts`` builds it."""

    action: Literal["NEW", "EDIT"]
    comment: CoralComment
    author: CoralAuthor
    story: CoralStory
    site: CoralSite
    tenantID: str
    tenantDomain: str


# -- the answer ------------------------------------------------------------------------------------------
class CoralFlag(BaseModel):
    actionType: Literal["FLAG"] = "FLAG"
    reason: FlagReason
    additionalDetails: str = Field(description="why, in sift's words (kept by the Coral versions that read it)")


class CoralRejectionReason(BaseModel):
    code: RejectionCode
    detailedExplanation: str = Field(description="the policy's reason for the removal")
    customReason: str | None = Field(None, description="for OTHER: what the removal is for")


class CoralModerationAction(BaseModel):
    status: Literal["REJECTED"] = "REJECTED"
    rejectionReason: CoralRejectionReason


class SiftActionPublic(BaseModel):
    action: str
    reason: str
    rule: str


class SiftNote(BaseModel):
    """What sift decided, beside Coral's fields (Coral drops keys it does not know; a person reading the answer
    or sift's own review page sees them)."""

    record_id: str | None = Field(description="the stored record (null while the full decision is still being made)")
    stored: Literal["committed", "pending"] | None = Field(description="as /classify says it; null: not stored yet")
    source: Literal["model", "rules"]
    labels: list[str]
    flags: list[str]
    needs_review: bool
    review_reasons: list[str]
    actions: list[SiftActionPublic] = Field(description="the policy's actions with their reasons")
    answered_from: Literal["decision", "rules in time"] = Field(
        description="decision: the full decision, as stored; rules in time: the model missed the phase's timeout, so "
                    "this is the rules' answer and the full decision is still being made and stored")


class CoralAnswer(BaseModel):
    """An External Moderation Response: the status, flags and tags Coral applies, the rejection reason (Coral 9+)
    and sift's note."""

    status: Literal["REJECTED", "SYSTEM_WITHHELD"] | None = None
    moderationAction: CoralModerationAction | None = None
    actions: list[CoralFlag] = []
    tags: list[Literal["FEATURED", "STAFF"]] = []
    metadata: dict[str, SiftNote]

    def for_coral(self) -> dict[str, Any]:
        """The JSON body: Coral's fields without nulls (its schema refuses a null status), sift's note whole."""
        return {**self.model_dump(exclude_none=True, exclude={"metadata"}),
                "metadata": {name: note.model_dump() for name, note in self.metadata.items()}}


# -- signatures ------------------------------------------------------------------------------------------
def signatures(header: str | None) -> list[str]:
    """The ``sha256=`` values of an ``X-Coral-Signature`` header (other schemes are ignored, as Coral's docs do)."""
    found = []
    for element in (header or "").split(","):
        scheme, _, value = element.strip().partition("=")
        if scheme == SIGNATURE_SCHEME and value:
            found.append(value.strip().lower())
    return found


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether one of the header's signatures is the HMAC-SHA256 of the raw ``body`` under ``secret``, compared
    in constant time."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected.encode(), sent.encode()) for sent in signatures(header))


# -- the comment -----------------------------------------------------------------------------------------
class _Text(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._link: tuple[str, int] | None = None  # an open <a>: its href, and where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self._link = (href, len(self.parts))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")
        if tag == "a" and self._link:
            href, start = self._link
            self._link = None
            if href not in "".join(self.parts[start:]):  # the address is what the spam rules read
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(body: str) -> str:
    """The words of a comment body Coral sent as HTML (its default format), entities decoded and a link's
    address kept beside its text; plain text passes through unchanged apart from the ends trimmed.

    >>> plain_text("<p>Call me on 07700&nbsp;900123</p><p>thanks</p>")
    'Call me on 07700\\xa0900123\\nthanks'
    """
    if "<" not in body and "&" not in body:
        return body.strip()
    parser = _Text()
    parser.feed(body)
    parser.close()
    return re.sub(r"\n{2,}", "\n", "".join(parser.parts)).strip()


def to_submission(request: CoralRequest) -> Submission | None:
    """The comment as sift reads it; ``None`` when it has no words (a comment that is only an image, say).

    The channel is ``other``: sift's vocabulary has no word for a site's own comment section. The address is
    the story's (Coral does not send the comment's); the parent is the comment it replies to."""
    text = plain_text(request.comment.body)
    if not text:
        return None
    return Submission(text=text, channel="other", author_id=request.author.id, id=request.comment.id,
                      url=request.story.url if request.story.url.startswith(("http://", "https://")) else None,
                      parent_id=request.comment.parentID)


# -- the decision ----------------------------------------------------------------------------------------
def _removal(decided: Decided) -> CoralModerationAction | None:
    removal = next((a for a in decided.decision.actions if a.action in REMOVALS), None)
    if removal is None:
        return None
    why = decided.decision.removal_reasons
    code: RejectionCode = next((REJECTION_CODES[r] for r in why if r in REJECTION_CODES), "OTHER")
    custom = None
    if code == "OTHER":
        custom = next((OTHER_REASONS[r] for r in why if r in OTHER_REASONS), removal.reason)
    return CoralModerationAction(rejectionReason=CoralRejectionReason(code=code, detailedExplanation=removal.reason,
                                                                      customReason=custom))


def _flags(decided: Decided) -> list[CoralFlag]:
    result = decided.result
    reasons = {a.action: a.reason for a in decided.decision.actions}
    removal = next((reasons[a] for a in reasons if a in REMOVALS), None)
    flags = []
    if "abusive" in result.labels:
        flags.append(CoralFlag(reason="COMMENT_DETECTED_TOXIC",
                               additionalDetails=f"sift: abusive, score {result.scores['abusive']:.2f}"
                                                 + (f"; {removal}" if removal else "")))
    if result.flags.get("spam"):
        flags.append(CoralFlag(reason="COMMENT_DETECTED_SPAM",
                               additionalDetails=f"sift: spam, score {result.flag_scores['spam']:.2f}"
                                                 + (f"; {removal}" if removal else "")))
    return flags


def to_answer(decided: Decided, *, stored: Literal["committed", "pending"] | None,
              answered_from: Literal["decision", "rules in time"] = "decision") -> CoralAnswer | None:
    """Coral's answer for a decided comment, or ``None`` (answer 204) when sift has nothing for Coral to do.

    A removal the policy asks for (``delete_post``, ``remove_post``) is REJECTED, with the policy's reason; a
    comment a person must read first (``needs_review``) is SYSTEM_WITHHELD, which puts it in Coral's Pending
    queue; abuse and spam are also flagged (Coral's Reported queue counts them). Replies, escalations and
    routing are sift's to act on, not Coral's: they travel in the note only."""
    moderation = _removal(decided)
    flags = _flags(decided)
    status: Literal["REJECTED", "SYSTEM_WITHHELD"] | None = (
        "REJECTED" if moderation else "SYSTEM_WITHHELD" if decided.result.needs_review else None)
    if status is None and not flags:
        return None
    result = decided.result
    final = answered_from == "decision"
    note = SiftNote(record_id=decided.record_id if final else None, stored=stored if final else None,
                    source=result.source, labels=list(result.labels), flags=[f for f, on in result.flags.items() if on],
                    needs_review=result.needs_review, review_reasons=list(result.review_reasons),
                    actions=[SiftActionPublic(action=a.action, reason=a.reason, rule=a.rule)
                             for a in decided.decision.actions],
                    answered_from=answered_from)
    return CoralAnswer(status=status, moderationAction=moderation, actions=flags, metadata={"sift": note})
