"""Bulk decisions on a filtered queue: confirm the model, clear, or remove, every item as if decided by hand.

Each item is decided by :func:`service.db.review._decide`, the single-item step, so a bulk action writes one
audit entry per item and corrects each author's history exactly as the item page would:

- ``confirm``: the model's labels and flags stand, the action as suggested (the item page's *Confirm the model*);
- ``clear``: no label or flag applies, the action as suggested (nothing): the post no longer counts against its
  author (:func:`service.db.offences.clear_offences`);
- ``remove``: the model's labels and flags stand and the post is taken down: the removal the policy suggested
  for it (``delete_post`` for personal details and staff named, ``remove_post`` otherwise), or ``remove_post``
  when it suggested none. Removal reasons among those labels (abusive, pii, staff_named, spam) count against
  the author as they would by hand; a removed post with none of them counts nothing (the plan says how many).

All the items are decided in **one transaction**: either every planned item is decided, or (on a fault) none
is, and the moderator can simply try again; there is never a half-applied bulk action to untangle, and it is
one commit, not one per item. An item another moderator holds, or that was decided meanwhile, is refused by
``_claim``, the first step of ``_decide``, which writes nothing when it refuses: it is skipped and reported,
and the other items stand. At most :data:`MAX_BULK_ITEMS` items at once: a filter matching more is refused
(narrow it, or take the items a page at a time by ticking them), so nothing changes that nobody counted.

Example::

    plan = plan_bulk(session, "remove", "maria", flt=QueueFilter(label="spam"))
    print(len(plan.items), "will change;", len(plan.skipped), "held by others")
    result = apply_bulk(session, plan, "maria", note="spam wave")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.labels import FLAGS, LABELS, REMOVAL_REASONS
from model.policy.engine import REMOVALS
from service.db.models import ClassificationRecord, ReviewItem, utcnow
from service.db.review import QueueFilter, ReviewConflict, ReviewInvalid, ReviewNotFound, _decide, _transaction, list_items

BulkAction = Literal["confirm", "clear", "remove"]
BULK_ACTIONS: Final[tuple[BulkAction, ...]] = get_args(BulkAction)
# One transaction of this many decisions holds SQLite's writer about a second (measured: 200 in 1.1 s on a loaded
# two-core machine), inside the 2 s any other writer waits (service.db.session.SQLITE_BUSY_SECONDS).
MAX_BULK_ITEMS = 200
DEFAULT_REMOVAL = "remove_post"


class BulkTooLarge(ReviewInvalid):  # noqa: N818 - read as "bulk: too large"; a 422 like any invalid decision
    """The filter matches more items than one bulk action may change."""


def model_choice(record: ClassificationRecord) -> tuple[list[str], list[str]]:
    """The model's labels and flags as a moderator can tick them (the item page's *Confirm the model*)."""
    labels: list[str] = [label for label in LABELS if label in (record.labels or [])]
    return labels, [f for f in FLAGS if (record.flags or {}).get(f) is True]


def _removal(record: ClassificationRecord) -> str:
    suggested = [a.get("action") for a in (record.policy or {}).get("actions", []) if isinstance(a, dict)]
    return next((a for a in suggested if a in REMOVALS), DEFAULT_REMOVAL)


@dataclass(frozen=True)
class Planned:
    """One item and the decision the bulk action makes for it."""

    item_id: str
    record_id: str
    labels: list[str]
    flags: list[str]
    action: str | None
    counts_against_author: bool  # a removal reason stands among the labels and flags

    @classmethod
    def of(cls, kind: BulkAction, item: ReviewItem, record: ClassificationRecord) -> Planned:
        labels, flags = ([], []) if kind == "clear" else model_choice(record)
        action = _removal(record) if kind == "remove" else None
        counts = bool(record.author_hash) and any(r in labels or r in flags for r in REMOVAL_REASONS)
        return cls(item.id, record.id, labels, flags, action, counts)


@dataclass(frozen=True)
class Skipped:
    item_id: str
    reason: str


@dataclass
class BulkPlan:
    """What a bulk action will do: the items it decides, and those it leaves (held by others, already decided)."""

    action: BulkAction
    items: list[Planned]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def removals_without_reason(self) -> int:
        return sum(1 for p in self.items if self.action == "remove" and not any(
            r in p.labels or r in p.flags for r in REMOVAL_REASONS))


@dataclass(frozen=True)
class BulkDecided:
    planned: Planned
    decision_id: str


@dataclass
class BulkResult:
    action: BulkAction
    decided: list[BulkDecided]
    skipped: list[Skipped]


def _held_by_other(item: ReviewItem, moderator: str) -> str | None:
    if item.status != "open":
        return "already decided"
    if item.claimed_by and item.claimed_by != moderator and item.claimed_until and item.claimed_until > utcnow():
        return f"being reviewed by {item.claimed_by} until {item.claimed_until:%H:%M}"
    return None


def _chosen(session: Session, item_ids: Sequence[str]) -> list[tuple[ReviewItem, ClassificationRecord]]:
    wanted = list(dict.fromkeys(item_ids))
    if len(wanted) > MAX_BULK_ITEMS:
        raise BulkTooLarge(f"{len(wanted)} items were chosen; a bulk action changes at most {MAX_BULK_ITEMS} at once")
    found = {i.id: (i, c) for i, c in session.execute(
        select(ReviewItem, ClassificationRecord).join(ClassificationRecord, ClassificationRecord.id == ReviewItem.classification_id)
        .where(ReviewItem.id.in_(wanted))).all()}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ReviewNotFound(f"no review items {missing[:5]}{' and more' if len(missing) > 5 else ''}")
    return [found[i] for i in wanted]


def plan_bulk(session: Session, kind: BulkAction, moderator: str, *, flt: QueueFilter | None = None,
              item_ids: Sequence[str] | None = None) -> BulkPlan:
    """The plan for ``kind`` over the open items ``flt`` matches, or over ``item_ids`` (exactly one of them).
    Changes nothing; a filter matching nothing is an empty plan, not an error. Raises :class:`BulkTooLarge` over
    :data:`MAX_BULK_ITEMS` items, ``ReviewNotFound`` for an unknown id."""
    if kind not in BULK_ACTIONS:
        raise ReviewInvalid(f"unknown bulk action {kind!r}; the actions are {list(BULK_ACTIONS)}")
    if (flt is None) == (item_ids is None):
        raise ReviewInvalid("give either a filter or the ids of the items, not both and not neither")
    if flt is not None:
        rows = list_items(session, replace(flt, status="open", limit=MAX_BULK_ITEMS + 1))
        if len(rows) > MAX_BULK_ITEMS:
            raise BulkTooLarge(f"the filter matches more than {MAX_BULK_ITEMS} items, more than a bulk action changes at "
                               "once: narrow it (label, channel, older than) or tick the items to change")
    else:
        rows = _chosen(session, item_ids or [])
    plan = BulkPlan(kind, [])
    for item, record in rows:
        held = _held_by_other(item, moderator)
        if held:
            plan.skipped.append(Skipped(item.id, held))
        else:
            plan.items.append(Planned.of(kind, item, record))
    return plan


def apply_bulk(session: Session, plan: BulkPlan, moderator: str, *, note: str | None = None) -> BulkResult:
    """Decide every planned item in one transaction (module docstring); items refused meanwhile (claimed,
    decided or erased since the plan) are skipped."""
    result = BulkResult(plan.action, [], list(plan.skipped))
    with _transaction(session):
        for planned in plan.items:
            try:
                entry = _decide(session, planned.item_id, moderator, labels=planned.labels, flags=planned.flags,
                                action=planned.action, note=note)
            except (ReviewConflict, ReviewNotFound) as exc:  # raised by the claim, before _decide writes anything
                result.skipped.append(Skipped(planned.item_id, str(exc)))
                continue
            result.decided.append(BulkDecided(planned, entry.id))
    return result
