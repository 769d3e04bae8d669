"""Comments that name or identify a member of staff (the ``staff_named`` flag).

The organisation configures its roster (``SIFT_STAFF_ROSTER``: one full name a line,
optionally ``| role``). A full name always counts; a first name counts only with a
role nearby ("Dave from repairs", "Tom the surveyor"); a title with a surname
("Mrs Khan") counts with a role nearby and is sent to review without one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from model.rules.base import STAFF_CATEGORY, UNLIMITED, Budget, Hit, RuleConfigError, Spans
from model.rules.files import StaffRolesFile, load_rule_file

_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True, slots=True)
class StaffMember:
    first: str
    last: str
    role: str = ""

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def read_roster(path: Path) -> list[StaffMember]:
    """Parse a roster file; an unreadable line is an error that names its line number."""
    if not path.is_file():
        raise RuleConfigError(f"staff roster {path} does not exist (set SIFT_STAFF_ROSTER to a file with one full name a line)")
    members = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, role = line.partition("|")
        words = name.replace("\u2019", "'").split()
        if len(words) < 2:
            raise RuleConfigError(f"{path}:{number}: {name.strip()!r} needs a first name and a surname")
        members.append(StaffMember(words[0].lower(), " ".join(words[1:]).lower(), role.strip().lower()))
    return members


class StaffRule:
    """Find staff from the roster named in a comment."""

    name = "staff"

    def __init__(self, roster: list[StaffMember], roles: StaffRolesFile):
        self._roster = roster
        self._window = roles.window
        names = sorted({re.escape(m.full) for m in roster}, key=len, reverse=True)
        self._full = re.compile(r"\b(?:" + "|".join(names) + r")\b") if names else None
        firsts = sorted({re.escape(m.first) for m in roster}, key=len, reverse=True)
        self._first = re.compile(r"\b(?:" + "|".join(firsts) + r")\b") if firsts else None
        lasts = sorted({re.escape(m.last) for m in roster}, key=len, reverse=True)
        titles = "|".join(re.escape(t) for t in roles.titles)
        self._titled = re.compile(rf"\b(?:{titles})\.? (?:{'|'.join(lasts)})\b") if lasts and titles else None
        role_words = sorted({r.lower() for r in roles.roles} | {m.role for m in roster if m.role}, key=len, reverse=True)
        self._role = re.compile(r"\b(?:" + "|".join(re.escape(r) for r in role_words) + r")\b") if role_words else None

    @classmethod
    def from_files(cls, roster_path: Path | None, roles_path: Path) -> StaffRule:
        roster = read_roster(roster_path) if roster_path else []
        return cls(roster, load_rule_file(roles_path, StaffRolesFile))

    def _role_near(self, text: str, start: int, end: int, words: list[tuple[int, int]], starts: list[int]) -> bool:
        """A role word within ``window`` words either side of [start, end). ``words`` are the spans of ``_WORD``
        over the whole text and ``starts`` their starts, found once per comment: each lookup is a bisection,
        so a comment of 2,500 first names costs 2,500 lookups rather than 2,500 scans of the comment."""
        if self._role is None:
            return False
        # Words before: those starting before ``start`` (a word running into the name is cut there; its start stands).
        i = bisect_left(starts, start)
        left = words[i - self._window][0] if i >= self._window else 0
        # Words after: read from ``end`` on, so a word the name ends inside is read again from ``end``.
        j = bisect_left(starts, end)
        after = [m.span() for m in _WORD.finditer(text, end, words[j - 1][1])] if j and words[j - 1][1] > end else []
        after += words[j:j + max(0, self._window - len(after))]
        right = after[self._window - 1][1] if len(after) >= self._window else len(text)
        window = text[left:start] + " " + text[end:right]
        return bool(self._role.search(window))

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        # Keeps nothing of the text between calls, so ``remember`` changes nothing here.
        if not self._roster:
            return []
        lowered = text.lower()
        words = [m.span() for m in _WORD.finditer(lowered)]
        starts = [w[0] for w in words]
        hits: list[Hit] = []
        taken = Spans()  # full names found: a first name inside one is not a second hit
        if self._full:
            for m in self._full.finditer(lowered):
                hits.append(Hit("staff_named", "staff.full_name", 0.97, m.start(), m.end(), detail="full name on the staff roster",
                                category=STAFF_CATEGORY))
                taken.add(m.start(), m.end())
        budget.check("staff.full_name")
        if self._first:
            for m in self._first.finditer(lowered):
                if taken.overlaps(m.start(), m.start() + 1):
                    continue
                if not text[m.start()].isupper() and not text[m.start():m.end()].islower():
                    continue
                if self._role_near(lowered, m.start(), m.end(), words, starts):
                    hits.append(Hit("staff_named", "staff.first_name_and_role", 0.9, m.start(), m.end(),
                                    detail="first name on the roster with a role nearby", category=STAFF_CATEGORY))
        budget.check("staff.first_name_and_role")
        if self._titled:
            for m in self._titled.finditer(lowered):
                near = self._role_near(lowered, m.start(), m.end(), words, starts)
                hits.append(Hit("staff_named", "staff.title_and_surname", 0.88 if near else 0.6, m.start(), m.end(),
                                detail="title and surname on the roster" + (" with a role nearby" if near else ""),
                                category=STAFF_CATEGORY))
        return hits
