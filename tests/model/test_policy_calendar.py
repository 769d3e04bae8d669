"""Deadlines around the edges: office hours, weekends, bank holidays, clock changes (Europe/London)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from model.policy.calendar import WorkingCalendar
from model.policy.config import load_policy

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_policy(load_policy().calendar)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


CASES = [
    # (posted, hours, due)                                                   why
    ("2026-11-27T16:30", 2, "2026-11-30T10:30"),  # Friday 16:30: half an hour Friday, 1.5 h Monday
    ("2026-11-27T16:30", 4, "2026-11-30T12:30"),
    ("2026-11-28T10:00", 2, "2026-11-30T11:00"),  # Saturday morning: clock starts Monday 09:00
    ("2026-11-26T08:59", 2, "2026-11-26T11:00"),  # one minute before opening
    ("2026-11-26T09:00", 2, "2026-11-26T11:00"),
    ("2026-11-26T17:00", 2, "2026-11-27T11:00"),  # at closing time: next morning
    ("2026-11-26T16:59", 2, "2026-11-27T10:59"),
    ("2026-11-26T12:00", 4, "2026-11-26T16:00"),
    ("2026-11-26T14:00", 4, "2026-11-27T10:00"),
    ("2026-12-24T16:00", 2, "2026-12-29T10:00"),  # Christmas Eve 16:00: Christmas, Boxing Day, weekend, substitute 28th
    ("2026-12-25T10:00", 2, "2026-12-29T11:00"),  # Christmas Day
    ("2026-12-26T10:00", 4, "2026-12-29T13:00"),  # Boxing Day (a Saturday; substitute Monday 28th)
    ("2027-12-24T15:00", 4, "2027-12-29T11:00"),  # 2027: Christmas and Boxing Day both substituted (27th, 28th)
    ("2026-04-02T16:00", 2, "2026-04-07T10:00"),  # Maundy Thursday: Good Friday, Easter weekend, Easter Monday
    ("2026-04-03T11:00", 2, "2026-04-07T11:00"),  # Good Friday itself
    ("2026-05-22T16:00", 2, "2026-05-26T10:00"),  # before the late-May (spring) bank holiday, Monday 25th
    ("2026-05-25T09:30", 2, "2026-05-26T11:00"),
    ("2026-08-28T15:30", 4, "2026-09-01T11:30"),  # late summer bank holiday Monday 31 August
    ("2026-03-27T16:00", 2, "2026-03-30T10:00"),  # clocks go forward on Sunday 29 March: still 10:00 local
    ("2026-03-30T08:00", 2, "2026-03-30T11:00"),  # Monday after: BST, office opens 09:00 local
    ("2026-10-23T16:00", 2, "2026-10-26T10:00"),  # clocks go back Sunday 25 October
    ("2026-10-26T16:00", 2, "2026-10-27T10:00"),
    ("2027-01-01T10:00", 2, "2027-01-04T11:00"),  # New Year's Day (a Friday)
]


@pytest.mark.parametrize(("posted", "hours", "due"), CASES)
def test_working_hours_deadline(cal: WorkingCalendar, posted: str, hours: int, due: str) -> None:
    assert cal.add_working_hours(t(posted), hours) == t(due)


def test_deadlines_computed_from_utc_input_land_on_london_wall_clock(cal: WorkingCalendar) -> None:
    # 08:30 UTC on 30 March 2026 is 09:30 BST: two working hours later is 11:30 BST (10:30 UTC).
    due = cal.add_working_hours(datetime.fromisoformat("2026-03-30T08:30+00:00"), 2)
    assert due.isoformat() == "2026-03-30T11:30:00+01:00"


def test_closure_days_from_the_policy_are_skipped() -> None:
    policy = load_policy()
    closed = policy.calendar.model_copy(update={"closures": [datetime(2026, 11, 30).date()]})
    cal = WorkingCalendar.from_policy(closed)
    assert cal.add_working_hours(t("2026-11-27T16:30"), 2) == t("2026-12-01T10:30")
