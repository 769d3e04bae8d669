"""The policy file's schema: validated at start-up, with errors that name the bad key."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Final, Literal, get_args

from pydantic import Field, field_validator, model_validator

from model.labels import CHANNELS, FLAGS, LABELS, REMOVAL_REASONS, Priority, RemovalReason
from model.shipped import POLICY_FILE
from model.yamlfiles import Regex, load_yaml
from model.yamlfiles import StrictModel as _Strict

ACTIONS = ("delete_post", "remove_post", "private_message", "block_author", "report_to_platform", "answer_publicly",
           "public_reply", "raise_with_customer_experience", "escalate_emergency")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: Final[tuple[Day, ...]] = get_args(Day)
DEFAULT_POLICY = POLICY_FILE
# A category of a rule hit (``Evidence.category``: threat, hate, phone, link, ...): one lower-case word.
_CATEGORY = re.compile(r"[a-z][a-z_]*")


class PolicyError(ValueError):
    """The policy file is invalid; the message names the file and the key."""


class OfficeHours(_Strict):
    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> OfficeHours:
        if self.start >= self.end:
            raise ValueError("office_hours.start must be before office_hours.end")
        return self


class Holidays(_Strict):
    country: str = "GB"
    subdivision: str | None = "ENG"


class Calendar(_Strict):
    timezone: str = "Europe/London"
    office_hours: OfficeHours
    working_days: list[Day]
    holidays: Holidays = Holidays()
    closures: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("working_days")
    @classmethod
    def _some_days(cls, value: list[Day]) -> list[Day]:
        if not value:
            raise ValueError("working_days needs at least one day")
        return value


class Sla(_Strict):
    acknowledge_hours: float = Field(gt=0, le=100)
    respond_hours: float = Field(gt=0, le=200)


_BLOCKED_FOR: tuple[RemovalReason, ...] = ("abusive", "staff_named", "spam")


class RepeatOffenders(_Strict):
    removals: int = Field(3, ge=1)
    window_days: int = Field(30, ge=1)
    reasons: list[RemovalReason] = Field(default_factory=lambda: list(_BLOCKED_FOR))

    @field_validator("reasons", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        bad = [v for v in value if v not in REMOVAL_REASONS] if isinstance(value, list) else []
        if bad:
            raise ValueError(f"unknown reasons {bad}; a removal is counted as one of {list(REMOVAL_REASONS)}")
        return value


class SimpleQuery(_Strict):
    max_words: int = Field(30, ge=1)
    not_with: list[str] = Field(default_factory=list)


class Emergency(_Strict):
    name: str
    regex: Regex


class ActionSpec(_Strict):
    do: str
    reason: str
    template: str | None = None
    when_simple: bool | None = None

    @field_validator("do")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; actions are {list(ACTIONS)}")
        return value


class When(_Strict):
    labels_any: list[str] = Field(default_factory=list)
    flags_any: list[str] = Field(default_factory=list)
    # Rule hits by category (Evidence.category: threat, hate, phone, link, ...).
    categories_any: list[str] = Field(default_factory=list)
    # Rule hits by source prefix ("rules:abuse.threat"), as older policy files say it.
    evidence_any: list[str] = Field(default_factory=list)
    emergency: bool = False

    @model_validator(mode="after")
    def _valid(self) -> When:
        bad = [x for x in self.labels_any if x not in LABELS] + [x for x in self.flags_any if x not in FLAGS]
        if bad:
            raise ValueError(f"unknown labels or flags {bad}")
        odd = [c for c in self.categories_any if not _CATEGORY.fullmatch(c)]
        if odd:
            raise ValueError(f"categories {odd} are not categories of rule hits (one lower-case word each: threat, hate, phone)")
        if not (self.labels_any or self.flags_any or self.categories_any or self.evidence_any or self.emergency):
            raise ValueError("a rule's `when` needs at least one of labels_any, flags_any, categories_any, evidence_any, emergency")
        return self


class RuleSpec(_Strict):
    id: str
    guide: str = Field(min_length=1, description="the sentence of the guide this rule comes from")
    when: When
    priority: Priority
    route_to: str
    actions: list[ActionSpec]
    sla: bool = False
    weekend_to_next_working_day: bool = False
    out_of_hours_cover: bool = False


class Organisation(_Strict):
    name: str
    contact_email: str
    out_of_hours_phone: str = ""


class PolicyFile(_Strict):
    version: Literal[1]
    organisation: Organisation
    calendar: Calendar
    sla: Sla
    teams: dict[str, str]
    repeat_offenders: RepeatOffenders = RepeatOffenders()
    simple_query: SimpleQuery = SimpleQuery()
    emergencies: list[Emergency] = Field(default_factory=list)
    templates: dict[str, dict[str, str]]
    rules: list[RuleSpec]

    @model_validator(mode="after")
    def _references(self) -> PolicyFile:
        for i, rule in enumerate(self.rules):
            if rule.route_to not in self.teams:
                raise ValueError(f"rules.{i} ({rule.id}): route_to {rule.route_to!r} is not one of teams {sorted(self.teams)}")
            for j, action in enumerate(rule.actions):
                if action.template and action.template not in self.templates:
                    raise ValueError(f"rules.{i}.actions.{j} ({rule.id}): template {action.template!r} is not defined "
                                     f"under templates ({sorted(self.templates)})")
        for name, variants in self.templates.items():
            if "default" not in variants:
                raise ValueError(f"templates.{name} needs a `default` text")
            odd = sorted(set(variants) - {"default", *CHANNELS})
            if odd:
                raise ValueError(f"templates.{name}: {odd} are not channels; variants are `default` or one of {list(CHANNELS)}")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


def load_policy(path: Path = DEFAULT_POLICY) -> PolicyFile:
    return load_yaml(path, PolicyFile, error=PolicyError, what="policy file")
