"""Turn a classification into the guide's actions, routing, priority, replies and deadlines.

    engine = PolicyEngine(load_policy())
    decision = engine.decide(classification, text, channel="facebook", posted_at=when, author_hash=h, history=db)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from model.labels import PRIORITY_RANK, REMOVAL_REASONS, Channel, Priority, RemovalReason
from model.policy.calendar import WorkingCalendar
from model.policy.config import PolicyFile, RuleSpec
from model.policy.history import NoHistory, Offence, OffenceHistory
from model.result import Classification, plain

REMOVALS = frozenset({"delete_post", "remove_post"})
PUBLIC_REPLIES = frozenset({"public_reply", "answer_publicly"})


@dataclass(frozen=True, slots=True)
class Action:
    action: str
    reason: str
    rule: str
    guide: str
    template: str | None = None
    history: list[dict[str, str]] | None = None


@dataclass(slots=True)
class Sla:
    acknowledge_by: str | None
    respond_by: str | None
    timezone: str
    posted_at: str
    in_office_hours: bool
    out_of_hours_cover: bool
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PolicyDecision:
    actions: list[Action]
    route_to: str | None
    priority: Priority
    reply_templates: dict[str, str]
    sla: Sla | None
    rules_fired: list[str]
    removal_reasons: list[RemovalReason]
    emergency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)  # type: ignore[no-any-return]

    def public_fields(self) -> dict[str, Any]:
        """The fields every result carries beside its tags (API, CLI and `sift policy explain` alike)."""
        return {key: plain(getattr(self, key)) for key in ("actions", "route_to", "priority", "reply_templates", "sla")}


class PolicyEngine:
    """The policy file's rules applied to one classified comment.

    >>> engine = PolicyEngine(load_policy())  # doctest: +SKIP
    >>> engine.decide(pipeline.classify("I'll smash the office up"), "I'll smash the office up").priority  # doctest: +SKIP
    'urgent'
    """

    def __init__(self, policy: PolicyFile):
        self.policy = policy
        self.calendar = WorkingCalendar.from_policy(policy.calendar)
        self._emergencies = [(e.name, re.compile(e.regex, re.IGNORECASE)) for e in policy.emergencies]

    def _emergency(self, text: str) -> str | None:
        for name, regex in self._emergencies:
            if regex.search(text):
                return name
        return None

    def _fires(self, rule: RuleSpec, result: Classification, emergency: str | None) -> bool:
        w = rule.when
        if w.emergency and emergency:
            return True
        if any(label in result.labels for label in w.labels_any):
            return True
        if any(result.flags.get(flag) for flag in w.flags_any):
            return True
        if any(e.category in w.categories_any for e in result.evidence):
            return True
        return any(e.source.startswith(prefix) for e in result.evidence for prefix in w.evidence_any)

    def _simple(self, result: Classification, text: str) -> bool:
        rule = self.policy.simple_query
        return len(text.split()) <= rule.max_words and not any(label in result.labels for label in rule.not_with)

    def _template(self, name: str, channel: Channel | str | None) -> str:
        variants = self.policy.templates[name]
        text = variants.get(channel or "default", variants["default"])
        org = self.policy.organisation
        # Only the organisation's own details are filled in: nothing the commenter wrote is echoed back.
        return text.format(org_name=org.name, contact_email=org.contact_email, out_of_hours_phone=org.out_of_hours_phone)

    def decide(self, result: Classification, text: str, *, channel: Channel | str | None = None, posted_at: datetime | None = None,
               author_hash: str | None = None, history: OffenceHistory | None = None, now: datetime | None = None) -> PolicyDecision:
        history = history or NoHistory()
        received = now or datetime.now(UTC)
        posted = posted_at or received
        if posted.tzinfo is None:
            posted = posted.replace(tzinfo=UTC)
        emergency = self._emergency(text)
        fired = [r for r in self.policy.rules if self._fires(r, result, emergency)]
        simple = self._simple(result, text)

        actions: list[Action] = []
        for rule in fired:
            for spec in rule.actions:
                if spec.when_simple is not None and spec.when_simple != simple:
                    continue
                if spec.do in REMOVALS and any(a.action in REMOVALS for a in actions):
                    continue  # one removal is enough; the first (most serious) rule gives the reason
                if any(a.action == spec.do for a in actions):
                    continue  # the same action from two rules is listed once, from the first rule
                reason = spec.reason.format(emergency=emergency or "")
                actions.append(Action(spec.do, reason, rule.id, rule.guide, spec.template))
        if any(a.action in REMOVALS for a in actions):
            # A removed post cannot be answered in public: the private message does that job.
            actions = [a for a in actions if a.action not in PUBLIC_REPLIES]
        templates = {a.template: self._template(a.template, channel) for a in actions if a.template}

        removal_reasons = self._removal_reasons(result, actions)
        block = self._repeat_offender(author_hash, removal_reasons, history, posted)
        if block and not any(a.action == "block_author" for a in actions):
            actions.append(block)

        priority: Priority = min((r.priority for r in fired), key=PRIORITY_RANK.__getitem__, default="low")
        route = fired[0].route_to if fired else None
        team = self.policy.teams.get(route) if route else None
        sla = self._sla(fired, posted, emergency)
        return PolicyDecision(actions=actions, route_to=team, priority=priority, reply_templates=templates, sla=sla,
                              rules_fired=[r.id for r in fired], removal_reasons=removal_reasons, emergency=emergency)

    def _removal_reasons(self, result: Classification, actions: list[Action]) -> list[RemovalReason]:
        if not any(a.action in REMOVALS for a in actions):
            return []
        on = [*result.labels, *(flag for flag, raised in result.flags.items() if raised)]
        return [reason for tag in on for reason in REMOVAL_REASONS if tag == reason]

    def _repeat_offender(self, author_hash: str | None, reasons: list[RemovalReason], history: OffenceHistory,
                         posted: datetime) -> Action | None:
        rule = self.policy.repeat_offenders
        counted = [r for r in reasons if r in rule.reasons]
        if not author_hash or not counted:
            return None
        past: list[Offence] = history.offences(author_hash, rule.reasons, posted - timedelta(days=rule.window_days))
        if len(past) + 1 < rule.removals:
            return None
        record = [{"at": o.at.isoformat(), "reason": o.reason, "record_id": o.record_id or ""} for o in past]
        return Action("block_author", f"{len(past) + 1} removals for {', '.join(sorted(set(counted) | {o.reason for o in past}))} "
                      f"within {rule.window_days} days (policy: block at {rule.removals})", "repeat_offenders",
                      "Names or identifies staff: ... block someone who keeps doing it. Swearing, abuse, ...: remove and/or block.",
                      history=record)

    def _sla(self, fired: list[RuleSpec], posted: datetime, emergency: str | None) -> Sla | None:
        with_sla = [r for r in fired if r.sla or r.out_of_hours_cover]
        if not with_sla:
            return None
        cal = self.calendar
        in_hours = cal.is_open(posted)
        cover = any(r.out_of_hours_cover for r in fired)
        notes: list[str] = []
        acknowledge = cal.add_working_hours(posted, self.policy.sla.acknowledge_hours)
        respond = cal.add_working_hours(posted, self.policy.sla.respond_hours)
        local = posted.astimezone(cal.zone)
        weekend = local.weekday() >= 5
        if weekend and any(r.weekend_to_next_working_day for r in fired):
            acknowledge = min(acknowledge, cal.next_opening(posted))  # "first thing Monday": the earlier deadline wins
            notes.append("negative comment posted at the weekend: handled first thing on the next working day")
        if cover and not in_hours:
            notes.append(f"possible emergency ({emergency}) outside office hours: out-of-hours cover applies now")
        if not in_hours:
            notes.append("posted outside office hours: the clock starts when the office opens")
        return Sla(acknowledge_by=acknowledge.isoformat(), respond_by=respond.isoformat(), timezone=str(cal.zone),
                   posted_at=posted.astimezone(cal.zone).isoformat(), in_office_hours=in_hours, out_of_hours_cover=cover,
                   notes=notes)
