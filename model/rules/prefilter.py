"""Skip regular expressions that cannot match a comment, by first looking up words they need.

Most rule patterns cannot match most comments: a sort code needs the word ``sort``, a
threat needs ``kill`` or ``hurt`` or ... Scanning every comment with every pattern
costs far more than looking a comment's words up once, so a pattern only runs on a
comment that holds what it needs (RE2 and Hyperscan prefilter the same way).

What a pattern needs is worked out from the compiled expression itself, never written
by hand, so editing a rule file cannot make the filter wrong. The filter is a
necessary condition only: a pattern that passes it still runs and decides, so the
results are exactly those of running every pattern.

Why it is exact: the needed strings are built from the ASCII characters that each
piece of the expression can match, folded as ``str.lower`` folds ASCII. A comment
holding a non-ASCII character that a piece of some pattern could match (an emoji the
pattern names, the Kelvin sign that matches ``k`` under IGNORECASE) skips the filter
for that pattern, which then simply runs.

It fails open. Reading an expression needs CPython's private regex parser
(``re._parser``); if that is missing, raises, or reads known expressions otherwise than
this module expects (checked once, on a few probes), the expressions concerned need
nothing and always run: slower, never different. That is logged once, at INFO.

>>> gate = PatternGate([re.compile(r"\\bsort ?code\\b", re.I), re.compile(r"\\d{8}")])
>>> gate.mask("Sort code please")
[True, False]
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

# Sets of exact strings larger than this are not tracked.
_MAX_EXACT = 256
# A piece matching more ASCII characters than this ("\w", ".") is not tracked.
_MAX_CLASS = 12
# A clause whose strings need a substring search (no whole word to look up) is used only
# when it has at most this many of them.
_MAX_SEARCHES = 8
# At most this many clauses (the most selective) are checked for one expression.
_MAX_CLAUSES = 3

# Marks inside the strings (never characters that a tracked piece matches):
_BOUNDARY = "\x00"  # a word boundary (\b) here
_NONWORD = "\x01"  # some one character that is not a word character ("\s", "[- ]"), maybe not ASCII
_MARKS = frozenset(_BOUNDARY + _NONWORD)

_EMPTY = frozenset({""})
_WORDS = re.compile(r"\w+")
# \b means "between \w and \W" in Unicode's sense (as the gate splits words) only without these.
_NOT_UNICODE_WORDS = re.ASCII | re.LOCALE

Strings = frozenset[str]


class _Unsupported(Exception):
    """The private regex parser is missing, or is not the one this module reads."""


@dataclass(frozen=True, slots=True)
class _Api:
    """The standard library's own regex parser, compiler and opcodes: private modules, the same in
    3.11 and 3.12 (the versions this project supports). Their parse trees are untyped tuples, hence Any."""

    parser: ModuleType
    compiler: ModuleType
    c: Any
    leaves: frozenset[Any]
    repeats: frozenset[Any]
    zero_width: frozenset[Any]

    @classmethod
    def load(cls) -> _Api:
        parser, compiler = importlib.import_module("re._parser"), importlib.import_module("re._compiler")
        c = importlib.import_module("re._constants")
        return cls(parser, compiler, c, frozenset({c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY}),
                   frozenset({c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}), frozenset({c.AT, c.ASSERT, c.ASSERT_NOT}))


# Expressions whose needs are known (worked out on CPython 3.11 and 3.12). A parser that reads them
# otherwise is not the one this module was written for, and the gates stand aside.
_PROBES: tuple[tuple[str, int, tuple[Strings, ...]], ...] = (
    (r"\bsort ?code\b", re.IGNORECASE, (frozenset({"\x00sort code\x00", "\x00sortcode\x00"}),)),
    (r"\d{8}", 0, (frozenset("0123456789"),)),
    (r"[a-c]x+(?=y)", 0, (frozenset({"ax", "bx", "cx"}),)),
    (r"(?:kill|hurt)s?\s+(?:you|u)\b", re.IGNORECASE, (frozenset({"\x01u\x00", "\x01you\x00"}),
                                                       frozenset({"hurt", "hurts", "kill", "kills"}),
                                                       frozenset({"hurt\x01", "hurts\x01", "kill\x01", "kills\x01"}))),
)


@lru_cache(maxsize=1)
def _api() -> _Api:
    """The private parser, once it has read every probe as expected; else :class:`_Unsupported`."""
    try:
        api = _Api.load()
        for pattern, flags, expected in _PROBES:
            clauses, _ = _derive(api, pattern, flags)
            if set(clauses) != set(expected):
                raise _Unsupported(f"the regex parser reads {pattern!r} otherwise than expected")
    except _Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a private API must cost speed, never results
        raise _Unsupported(f"the regex parser is not usable: {type(exc).__name__}: {exc}") from exc
    return api


@dataclass(slots=True)
class _Info:
    """What is known of a piece of an expression (strings lower-cased, with marks)."""

    exact: Strings | None  # every string it can match, when few
    prefix: Strings | None = None  # every match starts with one of these
    suffix: Strings | None = None  # every match ends with one of these
    clauses: list[Strings] = field(default_factory=list)  # every match contains a string of each clause

    @property
    def head(self) -> Strings | None:
        return self.exact if self.exact is not None else self.prefix

    @property
    def tail(self) -> Strings | None:
        return self.exact if self.exact is not None else self.suffix

    @classmethod
    def known(cls, exact: Strings, clauses: list[Strings] | None = None) -> _Info:
        return cls(exact, exact, exact, clauses or [])


_NOTHING = _Info.known(_EMPTY)


def _product(left: Strings | None, right: Strings | None) -> Strings | None:
    if left is None or right is None or len(left) * len(right) > _MAX_EXACT:
        return None
    return frozenset(a + b for a in left for b in right)


def _concat(x: _Info, y: _Info) -> _Info:
    """What is known of ``x`` followed by ``y``."""
    clauses = [*x.clauses, *y.clauses]
    exact = _product(x.exact, y.exact)
    if exact is not None:
        return _Info.known(exact, clauses)
    prefix = (_product(x.exact, y.head) or x.exact) if x.exact is not None else x.prefix
    suffix = (_product(x.tail, y.exact) or y.exact) if y.exact is not None else y.suffix
    for clause in (x.tail, y.head, _product(x.tail, y.head)):
        if clause is not None:
            clauses.append(clause)
    return _Info(None, prefix, suffix, clauses)


def _hashable(node: Any) -> Any:
    if isinstance(node, list | tuple):
        return tuple(_hashable(n) for n in node)
    return node


def _is_word_char(code: int) -> bool:
    return chr(code).isalnum() or code == ord("_")


def _nonword(api: _Api, node: Any, flags: int) -> bool:
    """Whether a single piece can only match non-word characters (in Unicode's sense)."""
    _c = api.c
    op, av = node
    if op is _c.LITERAL:
        return av < 128 and not _is_word_char(av)
    if op is not _c.IN:
        return False
    for item_op, item in av:
        if item_op is _c.LITERAL:
            if not (item < 128 and not _is_word_char(item)):
                return False
        elif item_op is _c.RANGE:
            low, high = item
            if high >= 128 or any(_is_word_char(code) for code in range(low, high + 1)):
                return False
        elif item_op is _c.CATEGORY:
            if not (item is _c.CATEGORY_SPACE or (item is _c.CATEGORY_NOT_WORD and not flags & _NOT_UNICODE_WORDS)):
                return False
        else:
            return False
    return True


@lru_cache(maxsize=4096)
def _leaf(api: _Api, flags: int, node: Any) -> tuple[Strings | None, re.Pattern[str] | None]:
    """The lower-cased ASCII characters one piece matches (None: too many to track), and the
    piece compiled alone (None when the strings do not rest on what it matches)."""
    state = api.parser.State()
    state.flags = flags
    single = api.compiler.compile(api.parser.SubPattern(state, [node]), flags)
    if not isinstance(single, re.Pattern):
        raise _Unsupported(f"the regex compiler returned a {type(single).__name__}")
    chars = frozenset(chr(i).lower() for i in range(128) if single.fullmatch(chr(i)))
    if _nonword(api, node, flags) and (len(chars) > 1 or chars & _MARKS):
        # One placeholder instead of every space and punctuation mark it could be: what it
        # matches need not be ASCII, so the piece is not one the strings rest on.
        return frozenset({_NONWORD}), None
    if len(chars) > _MAX_CLASS or chars & _MARKS:
        return None, None
    return chars, single


def _union(sets: list[Strings | None]) -> Strings | None:
    if any(s is None for s in sets):
        return None
    union: Strings = frozenset().union(*(s for s in sets if s is not None))
    return union if len(union) <= _MAX_EXACT else None


class _Extractor:
    """Works out what every match of one expression contains, and the single pieces that rests on."""

    def __init__(self, api: _Api) -> None:
        self.api = api
        self.used: list[re.Pattern[str]] = []

    def sequence(self, items: Any, flags: int) -> _Info:
        info = _NOTHING
        for node in items:
            info = _concat(info, self.node(node, flags))
        return info

    def node(self, node: tuple[Any, Any], flags: int) -> _Info:
        _c = self.api.c
        op, av = node
        if op in self.api.leaves:
            chars, single = _leaf(self.api, flags, _hashable(node))
            if single is not None:
                self.used.append(single)
            return _Info.known(chars) if chars is not None else _Info(None)
        if op is _c.AT:
            boundary = av is _c.AT_BOUNDARY and not flags & _NOT_UNICODE_WORDS
            return _Info.known(frozenset({_BOUNDARY})) if boundary else _NOTHING
        if op in self.api.zero_width:
            return _NOTHING  # look-arounds consume nothing; what they need is not used
        if op is _c.SUBPATTERN:
            _, add_flags, del_flags, items = av
            return self.sequence(items, (flags | add_flags) & ~del_flags)
        if op is _c.ATOMIC_GROUP:
            return self.sequence(av, flags)
        if op is _c.BRANCH:
            infos = [self.sequence(items, flags) for items in av[1]]
            exact = _union([i.exact for i in infos])
            if exact is not None:
                return _Info.known(exact)
            best = [_best(_candidates(i)) for i in infos]
            joined = _union(best)  # None when some alternative has no usable clause
            return _Info(None, _union([i.head for i in infos]), _union([i.tail for i in infos]),
                         [joined] if joined is not None else [])
        if op in self.api.repeats:
            low, high, items = av
            inner = self.sequence(items, flags)
            if low == 0:
                optional = _Info(None, _union([inner.head, _EMPTY]), _union([inner.tail, _EMPTY]))
                if high == 1 and inner.exact is not None:
                    return _Info.known(inner.exact | _EMPTY)
                return optional
            if low == high == 1:
                return inner
            return _Info(None, inner.head, inner.tail, _candidates(inner))
        return _Info(None)  # group references, conditionals: nothing known


def _candidates(info: _Info) -> list[Strings]:
    return [c for c in (*info.clauses, info.exact, info.prefix, info.suffix) if c is not None]


@dataclass(frozen=True, slots=True)
class _Literal:
    """One string of a clause, in the form the gate looks for it."""

    parts: tuple[str, ...]  # the lower-cased comment must contain each of these
    word: str | None  # a whole word it holds (bounded on both sides within it), looked up first

    @classmethod
    def of(cls, raw: str) -> _Literal:
        # A \w run with something (a non-word character or a mark) on each side within the
        # string is a whole word of any text the string occurs in.
        words = [m.group() for m in _WORDS.finditer(raw) if 0 < m.start() and m.end() < len(raw) and m.group().isascii()]
        parts = sorted({p for p in raw.replace(_BOUNDARY, "").split(_NONWORD) if p}, key=lambda p: (-len(p), p))
        return cls(tuple(parts), max(words, key=len) if words else None)

    @property
    def char(self) -> str | None:
        """The literal's one character, when that is all it asks for."""
        return self.parts[0] if self.word is None and len(self.parts) == 1 and len(self.parts[0]) == 1 else None

    @property
    def strength(self) -> float:
        """How rare the literal is likely to be; a word is cheap to look up as well."""
        if self.word is not None:
            return len(self.word) + 1
        if not self.parts:
            return -1.0
        if self.char is not None:
            return 0.0 if self.char.isspace() else 0.5
        return len(self.parts[0]) - 1


@lru_cache(maxsize=4096)
def _literals(clause: Strings) -> tuple[_Literal, ...]:
    # A string holding another string of the clause (marks included: "icon" does not hold
    # the word "con") adds nothing to "one of them is present".
    kept: list[str] = []
    for raw in sorted(clause, key=lambda s: (len(s), s)):
        if not any(k in raw for k in kept):
            kept.append(raw)
    return tuple(_Literal.of(raw) for raw in kept)


def _searches(clause: Strings) -> int:
    return sum(1 for lit in _literals(clause) if lit.word is None and lit.char is None)


def _cost(clause: Strings) -> tuple[float, int, int, list[str]]:
    """Most selective and cheapest first; ties broken by content so the choice never varies."""
    literals = _literals(clause)
    return (-min((lit.strength for lit in literals), default=1000.0), _searches(clause), len(literals), sorted(clause))


def _usable(clause: Strings) -> bool:
    if any(not lit.parts for lit in _literals(clause)):
        return False  # a clause that (nearly) any text satisfies asks for nothing
    return _searches(clause) <= _MAX_SEARCHES


def _best(clauses: list[Strings]) -> Strings | None:
    usable = [c for c in clauses if _usable(c)]
    return min(usable, key=_cost) if usable else None


def _implies(a: Strings, b: Strings) -> bool:
    """Whether a text holding one string of ``a`` must hold one of ``b``."""
    return all(any(y in x for y in b) for x in a)


def required(regex: re.Pattern[str]) -> tuple[tuple[Strings, ...], tuple[re.Pattern[str], ...]]:
    """Clauses that every match of ``regex`` satisfies, and the single pieces they rest on.

    A clause is a set of lower-cased strings with marks (``\\x00`` a word boundary,
    ``\\x01`` some one non-word character); the lower-cased text holds one string of every
    clause wherever the regex matches, provided none of the text's non-ASCII characters
    matches one of the pieces.

    Raises :class:`_Unsupported` when the private regex parser cannot be used.
    """
    return _required(regex.pattern, regex.flags)


@lru_cache(maxsize=1024)
def _required(pattern: str, flags: int) -> tuple[tuple[Strings, ...], tuple[re.Pattern[str], ...]]:
    api = _api()
    try:
        return _derive(api, pattern, flags)
    except Exception as exc:  # noqa: BLE001 - a tree of a shape this module does not know: the expression always runs
        raise _Unsupported(f"cannot read an expression: {type(exc).__name__}") from exc


def _derive(api: _Api, pattern: str, flags: int) -> tuple[tuple[Strings, ...], tuple[re.Pattern[str], ...]]:
    parsed = api.parser.parse(pattern, flags)
    extractor = _Extractor(api)
    info = extractor.sequence(parsed.data, parsed.state.flags)
    ranked = sorted({c for c in _candidates(info) if _usable(c)}, key=_cost)
    kept: list[Strings] = []
    for clause in ranked:
        if not any(_implies(k, clause) for k in kept):
            kept.append(clause)
    return tuple(kept[:_MAX_CLAUSES]), tuple(extractor.used)


@dataclass(frozen=True, slots=True)
class _View:
    """What the gate looks up in one text: its lower-cased form, its words, its characters."""

    lowered: str
    words: frozenset[str]
    chars: frozenset[str]
    foreign: frozenset[str]  # the text's non-ASCII characters, as given


@lru_cache(maxsize=64)
def _ascii_view(lowered: str) -> _View:
    return _View(lowered, frozenset(_WORDS.findall(lowered)), frozenset(lowered), frozenset())


@lru_cache(maxsize=64)
def _unicode_view(text: str) -> _View:
    lowered = text.lower()
    foreign = frozenset(c for c in frozenset(text) if not c.isascii())
    return _View(lowered, frozenset(_WORDS.findall(lowered)), frozenset(lowered), foreign)


def _view(text: str) -> _View:
    # ASCII text and its lower-case form look the same to the gate, so the rules that read
    # the text as given and those that read it lower-cased share one view.
    return _ascii_view(text.lower()) if text.isascii() else _unicode_view(text)


_noted: set[str] = set()


def _note_once(why: str) -> None:
    if why not in _noted and len(_noted) < 100:
        _noted.add(why)
        logger.info("rule prefilter stands aside (those rules always run: slower, same results): %s", why)


class PatternGate:
    """For a list of expressions, which of them can match a given text (a cheap necessary condition)."""

    def __init__(self, regexes: Sequence[re.Pattern[str]]):
        self._needs: list[frozenset[int]] = []  # per expression: the clauses it needs (ids)
        # word -> (clause id, longest part, other parts): the word is looked up, then the parts confirmed
        self._by_word: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}
        self._by_char: dict[str, list[int]] = {}
        self._by_search: dict[tuple[str, ...], list[int]] = {}  # no whole word: substring searches
        self._pieces: list[re.Pattern[str]] = []  # every distinct piece the strings rest on
        self._pieces_of: list[frozenset[int]] = []  # per expression: its pieces (indices)
        self._foreign: dict[str, frozenset[int]] = {}  # non-ASCII character -> expressions it forces to run
        piece_ids: dict[int, int] = {}
        clause_ids: dict[Strings, int] = {}
        for regex in regexes:
            try:
                clauses, pieces = required(regex)
            except _Unsupported as exc:
                clauses, pieces = (), ()  # needs nothing: always runs
                _note_once(str(exc))
            for clause in clauses:
                if clause not in clause_ids:
                    clause_ids[clause] = len(clause_ids)
                    self._index(clause_ids[clause], clause)
            self._needs.append(frozenset(clause_ids[c] for c in clauses))
            for piece in pieces:
                if id(piece) not in piece_ids:
                    piece_ids[id(piece)] = len(self._pieces)
                    self._pieces.append(piece)
            self._pieces_of.append(frozenset(piece_ids[id(p)] for p in pieces))
        self._words = frozenset(self._by_word)
        self._chars = frozenset(self._by_char)
        self._searches = [(parts[0], parts[1:], cids) for parts, cids in self._by_search.items()]
        self._free = [not need for need in self._needs]  # expressions that need nothing always run
        self._wanting: list[list[int]] = [[] for _ in clause_ids]  # clause id -> expressions that need it
        for i, need in enumerate(self._needs):
            for cid in need:
                self._wanting[cid].append(i)

    def __len__(self) -> int:
        return len(self._needs)

    def _index(self, cid: int, clause: Strings) -> None:
        for literal in _literals(clause):
            if literal.word is not None:
                self._by_word.setdefault(literal.word, []).append((cid, literal.parts[0], literal.parts[1:]))
            elif literal.char is not None:
                self._by_char.setdefault(literal.char, []).append(cid)
            else:
                self._by_search.setdefault(literal.parts, []).append(cid)

    def _forced(self, foreign: frozenset[str]) -> set[int]:
        """Expressions with a piece that can match one of these non-ASCII characters: they must run."""
        out: set[int] = set()
        for char in foreign:
            forced = self._foreign.get(char)
            if forced is None:
                matching = {i for i, piece in enumerate(self._pieces) if piece.fullmatch(char)}
                forced = frozenset(i for i, pieces in enumerate(self._pieces_of) if not pieces.isdisjoint(matching))
                if len(self._foreign) >= 10_000:
                    self._foreign.clear()
                self._foreign[char] = forced
            out |= forced
        return out

    def mask(self, text: str) -> list[bool]:
        """One flag per expression: False means it cannot match ``text``; True, run it to find out."""
        view = _view(text)
        lowered = view.lowered
        met: set[int] = set()
        for word in view.words & self._words:
            for cid, part, others in self._by_word[word]:
                if cid not in met and part in lowered and (not others or all(p in lowered for p in others)):
                    met.add(cid)
        for char in view.chars & self._chars:
            met.update(self._by_char[char])
        for part, others, cids in self._searches:
            if part in lowered and (not others or all(p in lowered for p in others)):
                met.update(cids)
        flags = self._free.copy()
        for cid in met:
            for i in self._wanting[cid]:
                if not flags[i] and self._needs[i] <= met:
                    flags[i] = True
        if view.foreign:
            for i in self._forced(view.foreign):
                flags[i] = True
        return flags
