"""What the policy needs to know about an author's past removals (kept by the service's database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Offence:
    at: datetime
    reason: str
    record_id: str | None = None


class OffenceHistory(Protocol):
    def offences(self, author_hash: str, reasons: Sequence[str], since: datetime) -> list[Offence]:
        """Removals of this author's posts for any of ``reasons`` since ``since`` that no moderator cleared."""
        ...


class NoHistory:
    """For callers with no database (``sift policy explain``): nobody has a past."""

    def offences(self, author_hash: str, reasons: Sequence[str], since: datetime) -> list[Offence]:
        return []


class MemoryHistory:
    """An in-memory history, for tests and single-process tools."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Offence, bool]] = []

    def add(self, author_hash: str, offence: Offence) -> None:
        self.items.append((author_hash, offence, False))

    def clear(self, record_id: str) -> None:
        self.items = [(a, o, cleared or o.record_id == record_id) for a, o, cleared in self.items]

    def offences(self, author_hash: str, reasons: Sequence[str], since: datetime) -> list[Offence]:
        return [o for a, o, cleared in self.items if a == author_hash and not cleared and o.reason in reasons and o.at >= since]
