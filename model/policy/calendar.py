"""Working-hours arithmetic in the organisation's time zone, skipping weekends, bank holidays and closures.

>>> cal = WorkingCalendar.from_policy(load_policy().calendar)  # doctest: +SKIP
>>> cal.add_working_hours(datetime(2026, 11, 27, 16, 30, tzinfo=UTC), 2)  # Friday 16:30 -> Monday 10:30  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from model.policy.config import DAYS, Calendar


class WorkingCalendar:
    def __init__(self, zone: str, start: time, end: time, working_days: list[str], country: str,
                 subdivision: str | None, closures: list[date]):
        self.zone = ZoneInfo(zone)
        self.start, self.end = start, end
        self.working_days = {DAYS.index(d) for d in working_days}
        self.country, self.subdivision = country, subdivision
        self.closures = set(closures)

    @classmethod
    def from_policy(cls, calendar: Calendar) -> WorkingCalendar:
        return cls(calendar.timezone, calendar.office_hours.start, calendar.office_hours.end, list(calendar.working_days),
                   calendar.holidays.country, calendar.holidays.subdivision, list(calendar.closures))

    @lru_cache(maxsize=64)  # noqa: B019 - one calendar per policy, kept for the process
    def _holidays(self, year: int) -> frozenset[date]:
        import holidays

        return frozenset(holidays.country_holidays(self.country, subdiv=self.subdivision, years=year))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self._holidays(day.year) and day not in self.closures

    def _open(self, day: date) -> datetime:
        return datetime.combine(day, self.start, tzinfo=self.zone)

    def _close(self, day: date) -> datetime:
        return datetime.combine(day, self.end, tzinfo=self.zone)

    def next_opening(self, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` when the office is open."""
        local = moment.astimezone(self.zone)
        day = local.date()
        if self.is_working_day(day):
            if local < self._open(day):
                return self._open(day)
            if local < self._close(day):
                return local
        day += timedelta(days=1)
        for _ in range(370):
            if self.is_working_day(day):
                return self._open(day)
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check working_days and closures")

    def is_open(self, moment: datetime) -> bool:
        return self.next_opening(moment) == moment.astimezone(self.zone)

    def add_working_hours(self, moment: datetime, hours: float) -> datetime:
        """``moment`` plus ``hours`` of office time (the clock only runs while the office is open)."""
        remaining = timedelta(hours=hours)
        cursor = self.next_opening(moment)
        while True:
            # Wall-clock arithmetic within one office day: the clocks change at night, never in office hours.
            left_today = self._close(cursor.date()) - cursor
            if remaining <= left_today:
                return cursor + remaining
            remaining -= left_today
            cursor = self.next_opening(self._close(cursor.date()) + timedelta(seconds=1))

    @staticmethod
    def as_utc(moment: datetime) -> datetime:
        return moment.astimezone(UTC)
