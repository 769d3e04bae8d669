"""Which language a comment is written in, with ``py3langid`` (it ships its model; nothing is downloaded).

The learnt model was trained on English comments. A comment confidently detected in another
language is not labelled by it (that would be guesswork): the rules answer and the comment goes
to review with the reason. Short or mixed texts ("lol", "thanks x", a row of emoji) are too short
to tell, and count as undetermined rather than foreign.

>>> LanguageDetector().detect("Bonjour, mon chauffage ne marche pas depuis une semaine").code
'fr'
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Protocol, SupportsFloat

from model.normalize import model_text

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


UNDETERMINED = "und"  # ISO 639-2's code for a language not determined: too few letters to tell


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # ISO 639-1, as py3langid names it; UNDETERMINED when too short to tell
    score: float  # normalised probability in [0, 1]
    reliable: bool  # long enough and sure enough to act on


class _Identifier(Protocol):
    """The part of ``py3langid.langid.LanguageIdentifier`` used here (py3langid ships no type hints)."""

    def classify(self, text: str) -> tuple[str, SupportsFloat]: ...  # (ISO 639-1 code, numpy float probability)


_LOADING = threading.Lock()
_LOADED: list[_Identifier] = []


def _identifier() -> _Identifier:
    """py3langid's identifier, loaded once per process on first use (unpacking its model takes 0.5 to 1 s, which
    every pipeline built, e.g. each app a test starts, would otherwise pay again). It keeps no state between
    calls, so the threads of every pipeline can share it."""
    if _LOADED:
        return _LOADED[0]
    with _LOADING:
        if not _LOADED:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _LOADED.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _LOADED[0]


class LanguageDetector:
    """``detect(text)``: the likeliest language, and whether it is sure enough to act on.

    A detection counts as reliable when the text has at least ``min_letters`` letters once mentions,
    links and hashtags are folded away, and the normalised probability reaches ``min_score``.
    """

    def __init__(self, min_letters: int = 20, min_score: float = 0.95):
        self.min_letters = min_letters
        self.min_score = min_score
    def _load(self) -> _Identifier:
        return _identifier()

    def detect(self, text: str) -> Language:
        words = model_text(text).replace("@user", " ").replace("http", " ")
        letters = len(_LETTER.findall(words))
        if letters < self.min_letters:  # too short to act on whatever it scores: spare the identifier's byte loop
            return Language(UNDETERMINED, 0.0, False)
        code, score = self._load().classify(words)
        return Language(str(code), round(float(score), 4), float(score) >= self.min_score)
