"""Request and response schemas, with the limits declared on the fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from model.labels import Priority
from service.comments import Submission

MAX_BATCH_ITEMS = 256


class ClassifyRequest(Submission):
    """One comment to classify. Only ``text`` is required; a field sift does not know is an error."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Lift broken for 9 days, my mum can't get down", "channel": "facebook", "id": "fb-123"}]})


class ClassifyBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ClassifyRequest] = Field(min_length=1, max_length=MAX_BATCH_ITEMS,
                                         description=f"1 to {MAX_BATCH_ITEMS} comments, answered in the same order")


class EvidencePublic(BaseModel):
    target: str = Field(description="the label or flag this evidence supports")
    source: str = Field(description="rules:<rule name> or model:<version>")
    score: float
    start: int | None = Field(None, description="start of the span in the text sent (characters)")
    end: int | None = None
    detail: str = ""
    entity: str | None = Field(None, description="for personal data, its type (PHONE, EMAIL, ...)")
    category: str = Field("", description="the kind of rule that fired (e.g. threat, hate, insult; the entity for personal data)")


class ActionPublic(BaseModel):
    action: str = Field(description="delete_post, remove_post, private_message, block_author, report_to_platform, "
                                    "answer_publicly, public_reply, raise_with_customer_experience, escalate_emergency")
    reason: str
    rule: str = Field(description="the policy rule that asked for it")
    guide: str = Field(description="the sentence of the social media guide behind the rule")
    template: str | None = None
    history: list[dict[str, str]] | None = Field(None, description="for block_author: the removals that justify it")


class SlaPublic(BaseModel):
    acknowledge_by: str | None = Field(description="ISO 8601, in the organisation's time zone")
    respond_by: str | None
    timezone: str
    posted_at: str
    in_office_hours: bool
    out_of_hours_cover: bool
    notes: list[str]


class ClassificationPublic(BaseModel):
    id: str | None = Field(None, description="the id sent with the comment, if any")
    record_id: str = Field(description="sift's id for the stored decision")
    stored: Literal["committed", "pending"] = Field(
        "committed", description="committed: the decision is in the database. pending: the database could not take it "
                                 "(down, locked or read-only), so it is kept in sift's durable local outbox and written "
                                 "under the same record_id when the database is back; nothing to resend")
    labels: list[str]
    scores: dict[str, float] = Field(description="a score in [0, 1] for each of the six labels")
    flags: dict[str, bool] = Field(description="spam and staff_named")
    flag_scores: dict[str, float]
    needs_review: bool
    review_reasons: list[str]
    source: Literal["model", "rules"]
    model_version: str | None
    fallback_reason: str | None = Field(None, description="why the rules answered instead of the model")
    language: str | None = Field(None, description="ISO 639-1 code of the comment's language, when the text is long and "
                                                   "clear enough to tell; a language the model was not trained for goes "
                                                   "to review")
    evidence: list[EvidencePublic]
    redacted_text: str
    steps: list[str]
    actions: list[ActionPublic] = Field(description="what to do, from the policy (the guide by default)")
    route_to: str | None = Field(description="the team that handles it")
    priority: Priority
    reply_templates: dict[str, str] = Field(description="the reply texts the policy names, filled in")
    sla: SlaPublic | None = Field(description="deadlines in working hours, when the policy sets any")
    stored_changes: list[str] = Field(default_factory=list,
                                      description="how the stored copy differs from what was sent (e.g. NUL characters "
                                                  "replaced by U+FFFD); empty when it is the same")


class ClassificationsPublic(BaseModel):
    items: list[ClassificationPublic]
    count: int


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorPublic(BaseModel):
    error: str
    details: list[ErrorDetail] = []


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ComponentPublic(BaseModel):
    ok: bool
    detail: str


class ReadyPublic(BaseModel):
    status: Literal["ready", "degraded", "down"] = Field(
        description="ready; degraded (answering, but from the rules, or keeping results in the outbox while the database "
                    "is unavailable); down (cannot answer)")
    components: dict[str, ComponentPublic] | None = Field(
        None, description="each part and its state; only for an admin key, or on loopback where keys are not required")
    outbox_pending: int | None = Field(None, description="comments answered but not yet in the database (admins only)")
