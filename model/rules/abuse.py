"""Swearing, insults, threats, hate, obscenity and wishing harm (the ``abusive`` label).

Words are compared whole, after disguises are undone, so that Scunthorpe, Penistone,
assessment, cocktail and shiitake stay clean while ``sh1te``, ``w@nker``, ``f*ck``,
``F U C K`` and ``fuuuuck`` do not hide. Phrases (threats, wishing harm, hate) are
regular expressions from the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from model.rules.base import UNLIMITED, AbuseCategory, Budget, Hit, Pattern
from model.rules.files import AbuseFile, TermSpec, load_rule_file
from model.rules.prefilter import PatternGate

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i", "€": "e"})
_LEET_L = str.maketrans({"1": "l", "|": "l"})
_MASK_CHARS = frozenset("*#%")
_INNER_SEPARATORS = re.compile(r"[.\-_'’]")
_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^[^a-z0-9@$*#]+|[^a-z0-9*#]+$")
_RUN3 = re.compile(r"(.)\1{2,}")
_RUNS = re.compile(r"(.)\1+")
_SINGLE = re.compile(r"^[a-z0-9@$*#!|]$")

# Counter-speech: someone reporting abuse they or others received ("he called my son a p*ki", "they
# shouted 'go back to your own country' at us"). Words quoted or reported like this are not the
# writer's own abuse: the hit is kept as evidence, with a score below the rules' hard line, so the
# model (or a moderator) decides. Both patterns are linear: no nested repetition.
_REPORTED_BY = re.compile(
    r"\b(?:call(?:s|ed|ing)|shout(?:s|ed|ing)?(?: at)?|scream(?:s|ed|ing)?(?: at)?|yell(?:s|ed|ing)?(?: at)?|"
    r"told|tell(?:s|ing)|sa(?:id|ys|ying)|wr(?:ote|itten|iting)|spray(?:ed)?|graffiti|daubed|chant(?:s|ed|ing)?|"
    r"abus(?:ed|ing)|referred to)\b")
_REPORT_WINDOW = 45  # characters after the reporting verb that it covers
_QUOTED = re.compile(r"\"[^\"\n]{1,200}\"|(?<!\w)'[^'\n]{1,200}'(?!\w)")
REPORTED_SCORE = 0.4
# Negated insults and hate ("they aren't scum", "nobody is vermin"): the same treatment. Swearing is
# never negated away ("not f***ing fixed" is still swearing).
_NEGATION = re.compile(r"\b(?:not|never|no|aren't|arent|isn't|isnt|wasn't|weren't|ain't|nobody is|no one is|nobody's)\s+"
                       r"(?:a\s+|an\s+|all\s+|just\s+)?$")
_NEGATABLE: Final[frozenset[AbuseCategory]] = frozenset({"insult", "hate"})

# Categories aimed at someone: abuse of the organisation is also `negative` (the guide),
# hate at a group alone is not, so only these categories suggest a negative tone.
NEGATIVE_CATEGORIES: Final[frozenset[AbuseCategory]] = frozenset({"swear", "insult", "threat", "harm"})

# What a token is, worked out once per distinct token (see AbuseRule._read): a break (a
# mention, a link, punctuation alone) ends a run of spaced letters; a single letter joins
# one; a word is looked up.
_BREAK, _LETTER, _WORD = 0, 1, 2
# Most words recur across comments, so each distinct token is read once; the memos are
# emptied when they reach this many entries (a few MB).
_MEMO_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class _Term:
    word: str
    category: AbuseCategory
    score: float
    match: str


@dataclass(frozen=True, slots=True)
class _Found:
    """A term found in a token, and how it was disguised: the fields of its hit."""

    rule: str
    score: float
    detail: str
    category: AbuseCategory

    @classmethod
    def of(cls, term: _Term, how: str) -> _Found:
        return cls(f"abuse.{term.category}", term.score, term.category + (f", {how}" if how else ""), term.category)


# (kind, offset of the core in the token, core, what the core matched)
_Token = tuple[int, int, str, _Found | None]


class AbuseRule:
    """Lexicon and phrase detector for the ``abusive`` label.

    >>> rule = AbuseRule.from_file(DEFAULT_RULES_DIR / "abuse.yaml")  # doctest: +SKIP
    >>> [h.rule for h in rule.find("useless sh1te")]  # doctest: +SKIP
    ['abuse.swear']
    """

    name = "abuse"

    def __init__(self, terms: list[TermSpec], safe_words: list[str], phrases: list[Pattern],
                 phrase_categories: dict[str, AbuseCategory]):
        self._exact: dict[str, _Term] = {}
        self._prefix: list[_Term] = []
        self._infix: list[_Term] = []
        for spec in terms:
            entry = _Term(spec.term, spec.category, spec.score, spec.match)
            for form in [spec.term, *spec.forms]:
                self._exact.setdefault(form, _Term(form, spec.category, spec.score, "exact"))
            if spec.match == "prefix":
                self._prefix.append(entry)
            elif spec.match == "infix":
                self._infix.append(entry)
        self._safe = frozenset(safe_words)
        # Collapsed forms ("fuuuck" -> "fuck") only count when the word was stretched,
        # because collapsing also turns ordinary words into others ("ass" -> "as").
        self._collapsed = {_RUNS.sub(r"\1", w): t for w, t in self._exact.items()}
        self._phrases = phrases
        self._phrase_categories = phrase_categories
        self._mask_candidates = sorted(self._exact)
        # Strongest and longest stems first, so "f***ing" reads as the f-word, not "fuk".
        self._prefix.sort(key=lambda t: (-t.score, -len(t.word)))
        self._infix.sort(key=lambda t: (-t.score, -len(t.word)))
        # Word matching is a pure function of the token, so each distinct token is read once.
        self._tokens: dict[str, _Token] = {}
        self._spaced: dict[str, _Found | None] = {}
        self._gate = PatternGate([p.regex for p in phrases])

    @classmethod
    def from_file(cls, path: Path) -> AbuseRule:
        spec = load_rule_file(path, AbuseFile)
        where = str(path)
        phrases = [Pattern.build(p.name, p.regex, p.score, where=where) for p in spec.phrases]
        return cls(spec.terms, spec.not_abusive, phrases, {p.name: p.category for p in spec.phrases})

    # -- word matching -------------------------------------------------------
    def _lookup(self, word: str) -> _Term | None:
        if not word or word in self._safe:
            return None
        term = self._exact.get(word)
        if term:
            return term
        for entry in self._prefix:
            if word.startswith(entry.word):
                return entry
        for entry in self._infix:
            if entry.word in word:
                return entry
        return None

    def _match_masked(self, word: str) -> _Term | None:
        """``f*ck``, ``c**ts``, ``motherf***ers``: each mask character stands for one letter."""
        if len(word) < 3 or all(c in _MASK_CHARS for c in word):
            return None

        def fits(window: str, term: str) -> bool:
            return any(c not in _MASK_CHARS for c in window) and any(c in _MASK_CHARS for c in window) and all(
                w == t or w in _MASK_CHARS for w, t in zip(window, term, strict=True)
            )

        best: _Term | None = None
        for candidate in self._mask_candidates:
            if len(candidate) == len(word) and fits(word, candidate):
                term = self._exact[candidate]
                if best is None or term.score > best.score:
                    best = term
        if best is not None:
            return best
        for entry in self._prefix:
            n = len(entry.word)
            if len(word) > n and fits(word[:n], entry.word):
                return entry
        for entry in self._infix:
            n = len(entry.word)
            for i in range(0, len(word) - n + 1):
                if fits(word[i : i + n], entry.word):
                    return entry
        return None

    def _match_word(self, raw: str) -> tuple[_Term, str] | None:
        word = _INNER_SEPARATORS.sub("", raw)
        if not word:
            return None
        variants = [word]
        if any(c in word for c in "013457@$!|€"):
            if any(c.isalpha() for c in word):
                variants.append(word.translate(_LEET))
                variants.append(word.translate(_LEET_L).translate(_LEET))
        for variant in variants:
            if any(c in _MASK_CHARS for c in variant):
                term = self._match_masked(variant)
                if term:
                    return term, "masked"
                continue
            term = self._lookup(variant)
            if term:
                return term, ("disguised" if variant != word else "")
            if _RUN3.search(variant):
                collapsed = _RUNS.sub(r"\1", variant)
                term = self._collapsed.get(collapsed) or self._lookup(collapsed)
                if term:
                    return term, "stretched"
        return None

    def _read(self, token: str) -> _Token:
        """Classify one whitespace-separated token and match its core (memoised by ``_token``)."""
        if token.startswith("@") and len(token) > 1 and token[1].isalnum():
            return _BREAK, 0, "", None  # a mention of an account, not a word
        if "://" in token or token.startswith("www."):
            return _BREAK, 0, "", None
        edge = _EDGE.search(token)
        lead = 0
        if edge and edge.start() == 0:
            lead = edge.end()
        core = _EDGE.sub("", token)
        if not core:
            return _BREAK, 0, "", None
        offset = lead if token[:lead] and not token.startswith(core) else token.find(core)
        if core.startswith("#") and len(core) > 1:
            core = core.lstrip("#")
            offset = token.find(core)
        if _SINGLE.match(core):
            return _LETTER, offset, core, None
        found = self._match_word(core)
        return _WORD, offset, core, _Found.of(*found) if found else None

    def _token(self, token: str, remember: bool = True) -> _Token:
        read = self._tokens.get(token)
        if read is None:
            read = self._read(token)
            if remember:  # a private text's words are read, never kept
                if len(self._tokens) >= _MEMO_SIZE:
                    self._tokens.clear()
                self._tokens[token] = read
        return read

    def _match_spaced(self, joined: str, remember: bool = True) -> _Found | None:
        """``y o u f u c k i n g ...``: the letters of a run of single characters, read as one word."""
        if joined in self._spaced:
            return self._spaced[joined]
        found = self._match_word(joined)
        term = found[0] if found else None
        if term is None:
            # Look inside the run for the strongest stems.
            plain = joined.translate(_LEET)
            for entry in self._infix + self._prefix:
                if len(entry.word) >= 4 and entry.word in plain:
                    term = entry
                    break
        result = _Found.of(term, "spaced letters") if term else None
        if remember:
            if len(self._spaced) >= _MEMO_SIZE:
                self._spaced.clear()
            self._spaced[joined] = result
        return result

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        lowered = text.lower()
        hits: list[Hit] = []
        singles: list[tuple[int, int, str]] = []

        def flush_singles() -> None:
            if len(singles) >= 3:
                found = self._match_spaced("".join(s[2] for s in singles), remember)
                if found:
                    hits.append(Hit("abusive", found.rule, found.score, singles[0][0], singles[-1][1], detail=found.detail,
                                    category=found.category))
            singles.clear()

        for match in _TOKEN.finditer(lowered):
            kind, offset, core, found = self._token(match.group(), remember)
            if kind == _LETTER:
                start = match.start() + offset
                singles.append((start, start + len(core), core))
                continue
            if singles:
                flush_singles()
            if found:
                start = match.start() + offset
                hits.append(Hit("abusive", found.rule, found.score, start, start + len(core), detail=found.detail,
                                category=found.category))
        flush_singles()
        budget.check("abuse.words")

        for pattern, possible in zip(self._phrases, self._gate.mask(lowered), strict=True):
            if not possible:
                continue
            budget.check(f"abuse.{pattern.name}")
            category = self._phrase_categories[pattern.name]
            for m in pattern.regex.finditer(lowered):
                hits.append(Hit("abusive", f"abuse.{pattern.name}", pattern.score, m.start(), m.end(), detail=category,
                                category=category))
        return self._reported(lowered, hits) if hits else hits

    @staticmethod
    def _reported(lowered: str, hits: list[Hit]) -> list[Hit]:
        """Lower the score of hits inside quotes or just after a reporting verb ("called me a ...")."""
        spans = [(m.start(), m.end()) for m in _QUOTED.finditer(lowered)]
        spans += [(m.end(), m.end() + _REPORT_WINDOW) for m in _REPORTED_BY.finditer(lowered)]
        out: list[Hit] = []
        for hit in hits:
            why = ""
            if hit.score > REPORTED_SCORE:
                if any(start <= hit.start and hit.end <= end + 15 for start, end in spans):
                    why = "quoted or reported speech"
                elif hit.category in _NEGATABLE and _NEGATION.search(lowered[max(0, hit.start - 20):hit.start]):
                    why = "negated"
            if why:
                hit = replace(hit, score=REPORTED_SCORE, detail=f"{hit.detail}; {why}" if hit.detail else why)
            out.append(hit)
        return out
