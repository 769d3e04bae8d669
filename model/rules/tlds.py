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

``_tlds_re`` is URLExtract's private attribute, so the stand-in fails open: a regex of
another shape, or anything that is not a regex at all, is kept as it is; any error while
checking keeps the original; and any use other than ``findall(text)`` (another method,
more arguments) is passed to the original regex.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

logger = logging.getLogger(__name__)

_CANDIDATES = re.compile(r"\.|localhost", re.IGNORECASE)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _unprovable(regex: re.Pattern[str], names: list[str]) -> str | None:
    """Why a finder over ``names`` might not answer as ``regex`` does; None when it provably does."""
    if regex.flags != re.IGNORECASE | re.UNICODE:
        return "its flags differ"
    if "|".join(re.escape(n) for n in names) != regex.pattern:
        return "it is not an escaped alternation of names"
    if any(not (n.startswith(".") and len(n) > 1) and n != "localhost" for n in names):
        return "a name is neither a dot name nor localhost"
    if any(n != n.lower() for n in names if n.isascii()) or len(set(names)) != len(names):
        return "names are not lower case, or repeat"
    foreign = "".join(sorted({re.escape(c) for n in names for c in n if not c.isascii()}))
    if foreign and any(re.fullmatch(f"[{foreign}]", chr(i), re.IGNORECASE) for i in range(128)):
        return "a non-ASCII name could match ASCII text"
    order = {n: i for i, n in enumerate(names)}
    for name in names:
        for cut in range(2, len(name)):
            shorter = order.get(name[:cut])
            if shorter is not None and shorter < order[name]:
                return "a shorter name comes before a longer one it starts"
    return None


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
    def replacing(cls, regex: object) -> object:
        """A finder for ``regex`` when it provably answers the same, else ``regex`` itself (never an error)."""
        try:
            if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
                why: str | None = f"it is a {type(regex).__name__}, not a text regex"
            else:
                text_regex = cast("re.Pattern[str]", regex)
                names = [_ESCAPED.sub(r"\1", alternative) for alternative in text_regex.pattern.split("|")]
                why = _unprovable(text_regex, names)
                if why is None:
                    return cls(text_regex, names)
        except Exception as exc:  # noqa: BLE001 - a private attribute of another shape costs speed, never results
            why = f"{type(exc).__name__} while reading it"
        logger.info("URLExtract's TLD regex kept as it is (slower, same results): %s", why)
        return regex

    def _match_at(self, text: str, start: int) -> str | None:
        """The name the regex matches at the dot at ``start``, if any."""
        window = text[start : start + self._longest]
        foreign = None if window.isascii() else _NON_ASCII.search(window)
        if foreign is not None:
            cut = foreign.start()
            if self._name_char.fullmatch(window[cut]):
                m = self._regex.match(text, start)
                return m.group() if m else None
            window = window[:cut]  # no name can reach past this character
        lowered = window.lower()
        for length in self._lengths:
            if length <= len(lowered) and lowered[:length] in self._names:
                return window[:length]
        return None

    def __getattr__(self, name: str) -> Any:
        # Only ``findall(text)`` is answered here; should URLExtract use its regex otherwise, the regex answers.
        if name.startswith("__") or name == "_regex":
            raise AttributeError(name)  # copying or unpickling a half-built finder
        return getattr(self._regex, name)

    def findall(self, text: str, *args: Any, **kwargs: Any) -> list[Any]:
        if args or kwargs or not isinstance(text, str):
            return self._regex.findall(text, *args, **kwargs)
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
