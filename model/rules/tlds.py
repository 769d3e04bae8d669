"""A faster stand-in for URLExtract's top-level-domain regex, with the same answers.

URLExtract finds URLs by first listing every top-level domain named in a text, with
``findall`` on one regex that alternates ~1,800 names (".com", ".co.uk" is two, ".0" to
".255" for IPv4) under IGNORECASE. The regex engine tries every name at every dot, so
that one call was most of the spam rule's time (about 0.6 ms for a comment with a few
dots). :class:`TldFinder` gives the same list from a set lookup per candidate length.

It only stands in when it can prove it is the same: the regex must be exactly the
escaped alternation of its names, each name a dot name or "localhost", a longer name
must come before any name that is a prefix of it (so the first alternative that matches
is the longest), and no non-ASCII name may match ASCII text under IGNORECASE. Then a
match can only start at a dot or at "localhost", and a match at a dot is the longest
name equal, ignoring ASCII case, to the ASCII text that follows. Where a non-ASCII
character that could pass for a letter of some name under IGNORECASE (Cyrillic for
".рф", the Kelvin sign for "k") follows a dot, that dot goes to the original regex.
"""

from __future__ import annotations

import re
from typing import Any

_CANDIDATES = re.compile(r"\.|localhost", re.IGNORECASE)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class TldFinder:
    """``findall`` of URLExtract's TLD regex, answered from a set of names (build with :meth:`replacing`)."""

    def __init__(self, regex: re.Pattern[str], names: list[str]):
        self._regex = regex
        dotted = [n for n in names if n.startswith(".") and n.isascii()]
        self._names = frozenset(dotted)
        self._lengths = sorted({len(n) for n in dotted}, reverse=True)
        self._longest = self._lengths[0] if dotted else 0
        self._localhost = "localhost" in names
        # A character of text that IGNORECASE lets stand for a character of some name.
        name_chars = "".join(sorted({re.escape(c) for n in names if n.startswith(".") for c in n}))
        self._name_char = re.compile(f"[{name_chars}]" if name_chars else "(?!)", re.IGNORECASE)
        self.pattern = regex.pattern
        self.flags = regex.flags

    @classmethod
    def replacing(cls, regex: Any) -> Any:
        """A finder for ``regex`` when it provably answers the same, else ``regex`` itself."""
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
            return regex
        if regex.flags != re.IGNORECASE | re.UNICODE:
            return regex
        names = [_ESCAPED.sub(r"\1", alternative) for alternative in regex.pattern.split("|")]
        if "|".join(re.escape(n) for n in names) != regex.pattern:
            return regex
        if any(not (n.startswith(".") and len(n) > 1) and n != "localhost" for n in names):
            return regex
        if any(n != n.lower() for n in names if n.isascii()) or len(set(names)) != len(names):
            return regex
        foreign = "".join(sorted({re.escape(c) for n in names for c in n if not c.isascii()}))
        if foreign and any(re.fullmatch(f"[{foreign}]", chr(i), re.IGNORECASE) for i in range(128)):
            return regex  # some non-ASCII name could match ASCII text
        order = {n: i for i, n in enumerate(names)}
        for name in names:
            for cut in range(2, len(name)):
                shorter = order.get(name[:cut])
                if shorter is not None and shorter < order[name]:
                    return regex  # a shorter name would win over a longer one
        return cls(regex, names)

    def _match_at(self, text: str, start: int) -> str | None:
        """The name the regex matches at the dot at ``start``, if any."""
        window = text[start : start + self._longest]
        if not window.isascii():
            cut = _NON_ASCII.search(window).start()  # type: ignore[union-attr]
            if self._name_char.fullmatch(window[cut]):
                m = self._regex.match(text, start)
                return m.group() if m else None
            window = window[:cut]  # no name can reach past this character
        lowered = window.lower()
        for length in self._lengths:
            if length <= len(lowered) and lowered[:length] in self._names:
                return window[:length]
        return None

    def findall(self, text: str) -> list[str]:
        found: list[str] = []
        end = 0
        for candidate in _CANDIDATES.finditer(text):
            start = candidate.start()
            if start < end:
                continue  # inside the previous match, which the regex engine skipped past
            if text[start] == ".":
                name = self._match_at(text, start)
            else:
                name = candidate.group() if self._localhost else None
            if name:
                end = start + len(name)
                found.append(name)
        return found
