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

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

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


# -- the text as the learnt model reads it ------------------------------------------------------------
# Real posts carry platform furniture that the seed comments almost never do. The model reads a
# folded form of it, the same in training and in serving (the encoder applies it), so that
# "@user @user RT ... https://t.co/x #NoHeating 😡😡😡😡" and "no heating 😡" mean the same to it.
# The rules and the evidence spans keep reading the caller's text, so spans are unaffected.

TEXT_FORMS: Final[tuple[str, ...]] = ("none", "platform-v1")  # what an artifact's ``text_normalization`` may say

_RETWEET = re.compile(r"^(?:\s*RT\s+@\w+\s*:?\s*)+", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?://|www\.)(?:www\.)?([^\s/?#]+)\S*", re.IGNORECASE)
_URL_PLACEHOLDER = re.compile(r"\bURL\b")  # OLID writes links as "URL"
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_MENTION_RUN = re.compile(r"@user(?:[\s,.:;]*@user)+")
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
_CAMEL = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STRETCH = re.compile(r"([^\w\s]|[a-zA-Z])\1{2,}")  # "soooo", "!!!!!", "😡😡😡" (digits are left alone)
_SPACES = re.compile(r"\s+")


def _hashtag_words(match: re.Match[str]) -> str:
    words = _CAMEL.findall(match.group(1).replace("_", " "))
    return " ".join(w.lower() for w in words) if words else match.group(1)


_EMOJI_STARTS: frozenset[str] | None = None  # the non-ASCII characters an emoji can begin with (from emoji's data)
_KEYCAP = "\u20e3"  # every emoji that begins with an ASCII character ("#", "*", a digit) is a keycap: it holds this


def _may_hold_emoji(text: str) -> bool:
    """False when ``text`` cannot hold an emoji: no character an emoji begins with, and no keycap. Scanning the
    text with ``emoji.replace_emoji`` costs a generator step per character (the largest share of preparing
    a comment for the model); this set lookup decides for most comments that it need not run."""
    global _EMOJI_STARTS
    if text.isascii():
        return False
    if _EMOJI_STARTS is None:
        import emoji

        _EMOJI_STARTS = frozenset(k[0] for k in emoji.EMOJI_DATA if not k[0].isascii())
    return _KEYCAP in text or not _EMOJI_STARTS.isdisjoint(text)


def _emoji_words(chars: str, data: dict[str, Any]) -> str:
    name = str(data.get("en", "")).strip(":").replace("_", " ")
    return f" {name} " if name else " "


def model_text(text: str) -> str:
    """The form of ``text`` the learnt model reads (``platform-v1``).

    >>> model_text("RT @bob: @BrookvaleHomes @council still #NoHeating!!!!! https://t.co/AbC 😡😡😡😡")
    '@user still no heating!! http t.co enraged face enraged face'
    """
    import html

    text = normalize(html.unescape(text)).text
    text = _RETWEET.sub("", text)
    text = _URL.sub(lambda m: f" http {m.group(1).lower()} ", text)
    text = _URL_PLACEHOLDER.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _MENTION_RUN.sub("@user", text)
    text = _HASHTAG.sub(_hashtag_words, text)
    text = _STRETCH.sub(lambda m: m.group(1) * 2, text)
    if _may_hold_emoji(text):
        import emoji

        text = emoji.replace_emoji(text, replace=_emoji_words)
    return _SPACES.sub(" ", text).strip() or text.strip()


def text_form(name: str) -> Callable[[str], str] | None:
    """The preparation an artifact's ``text_normalization`` names (None: the text as it is)."""
    if name not in TEXT_FORMS:
        raise ValueError(f"unknown text_normalization {name!r}; known: {', '.join(TEXT_FORMS)}")
    return model_text if name == "platform-v1" else None
