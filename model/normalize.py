"""Unicode normalisation that keeps a map back to the caller's characters.

Rules read the normalised text, so look-alike letters (Cyrillic ``а``), zero-width
characters, full-width forms (``ｆｕｃｋ``) and stacked accents hide nothing. Every
normalised character remembers which input character it came from, so evidence
spans and redactions always point into the text the caller sent.

>>> n = normalize("ｆ\u200bսck")
>>> n.text
'fuck'
>>> n.to_original(0, 4)
(0, 5)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Invisible characters people use to split words ("f\u200buck"): Unicode's format
# category (Cf) covers zero-width spaces and joiners, the BOM, soft hyphens, bidi marks.
_DROP_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})
_KEEP_CONTROL = frozenset({"\n", "\t", "\r"})


@lru_cache(maxsize=1)
def _homoglyphs() -> dict[str, str]:
    """Map each non-ASCII character that looks like an ASCII letter or digit to it.

    Built from Unicode's confusables table as shipped by ``confusable-homoglyphs``.
    """
    from confusable_homoglyphs import confusables

    table: dict[str, str] = {}
    for char, candidates in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        for candidate in candidates:
            target = candidate["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[char] = target
                break
    return table


# Typographic punctuation folded to ASCII so that patterns need only one apostrophe.
_PUNCTUATION = {"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                "\u2033": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " ", "\u2026": "..."}


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """The ASCII-leaning form of one input character ('' when it should vanish)."""
    if char in _KEEP_CONTROL:
        return char
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    if unicodedata.category(char) in _DROP_CATEGORIES:
        return ""
    out = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.category(part) in _DROP_CATEGORIES and part not in _KEEP_CONTROL:
            continue
        if not part.isascii():
            part = _homoglyphs().get(part, part)
        out.append(part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, the index it came from."""

    original: str
    text: str
    origin: tuple[int, ...] | None  # None: identical to the original (pure ASCII)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Translate a [start, end) span of ``text`` into a span of ``original``."""
        if self.origin is None:
            return start, end
        if start >= end:
            pos = self.origin[start] if start < len(self.origin) else len(self.original)
            return pos, pos
        first = self.origin[start]
        last = self.origin[end - 1]
        return first, last + 1


def normalize(text: str) -> NormalizedText:
    """Fold compatibility forms, strip invisible characters and map homoglyphs."""
    if text.isascii():
        # ASCII has no homoglyphs or compatibility forms; only control characters remain.
        if all(c >= " " or c in _KEEP_CONTROL for c in text):
            return NormalizedText(text, text, None)
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        for out in folded:
            chars.append(out)
            origin.append(index)
    return NormalizedText(text, "".join(chars), tuple(origin))
