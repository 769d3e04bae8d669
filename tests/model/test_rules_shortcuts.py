"""The rules' shortcuts change no result: pattern gates, the TLD finder, the word memo.

Each shortcut is checked against the slow path it stands in for, on the rule table's
texts, the seed comments and texts built to trip it: case folding beyond ASCII (the
Kelvin sign, long s, dotted I), non-ASCII digits and spaces, emoji next to words, URLs
and dotted names. Both shortcuts lean on private APIs (CPython's ``re._parser``,
URLExtract's ``_tlds_re``); with those removed or broken the rules give the same hits.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from model.normalize import normalize
from model.rules import abuse, pii, prefilter, spam
from model.rules.engine import RulesEngine
from model.rules.files import DEFAULT_RULES_DIR
from model.rules.prefilter import PatternGate
from model.rules.tlds import TldFinder
from tests.conftest import ROSTER
from tests.model.test_rules_table import ABUSE, CUES, PII, SPAM, STAFF

TRICKY = [
    "\u212aILL them all",  # Kelvin sign: IGNORECASE reads it as "k"
    "ſhut up ſcum",  # long s
    "İs it fixed? İ'm still waiting",
    "thank\u00a0you so much, brilliant\u2003job",
    "😡con artists😡 useless😤",
    "my account is ١٢٣٤٥٦٧٨ and sort code ٢٠-٠٠-٠٠",
    "call me on +44 7700 900123 or 07700900456",
    "sort code 20-00-00 acc 12345678, NI AB 12 34 56 C",
    "F U C K you, f*ck off, sh1te, fuuuuck, @fuckbot #fuckit",
    "Y O U  A R E  A  T W A T",
    "visit http://paypa1-secure-login.xyz/verify now!!",
    "see www.free-boiler-grants-uk.com. or bit.ly/abc",
    "LOCALHOST:8080 and localhoſt and x.Kz/1 and ok.рф and 10.0.0.1",
    "ＷＨＹ ＩＳ ＮＯＢＯＤＹ ＨＯＭＥ ＢＥＴＷＥＥＮ ９ ＡＮＤ ５",
    "Dave from repairs came round to 14 Ashton Road 😍🙏",
    "",
    "   ",
    "?",
]
TEXTS = [row[0] for row in (*PII, *ABUSE, *SPAM, *STAFF, *CUES)] + TRICKY
SEED = [json.loads(line)["text"] for path in sorted((Path(__file__).resolve().parents[2] / "data" / "seed").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
SEED_STEP = 3  # each way of breaking a private API is checked on every third seed comment (all of them above)


def _variants(texts: list[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        out += [text, normalize(text).text, text.upper(), text.lower(), text.replace(" ", "\u00a0")]
    return out


def _outputs(engine: RulesEngine, texts: list[str]) -> list[tuple[list[tuple[object, ...]], dict[str, float]]]:
    results = []
    for text in texts:
        out = engine.analyze(text)
        results.append(([(h.rule, h.target, h.score, h.start, h.end, h.detail, h.entity, h.category) for h in out.hits],
                        out.scores))
    return results


def _engine() -> RulesEngine:
    return RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=ROSTER)


@pytest.fixture(scope="module")
def reference() -> dict[str, list[tuple[list[tuple[object, ...]], dict[str, float]]]]:
    """Every rule run on every text, no shortcut taken: what the shortcuts must reproduce."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PatternGate, "mask", lambda self, text: [True] * len(self))
        mp.setattr(pii, "_PHONE_DIGITS", 0)
        mp.setattr(spam, "_speed_up", lambda urls: None)
        spam._extractors.cache_clear()
        engine = _engine()
        out = {"table": _outputs(engine, _variants(TEXTS)), "seed": _outputs(engine, [normalize(t).text for t in SEED])}
    spam._extractors.cache_clear()
    return out


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """The prefilter's and URL finders' caches emptied before and after, so a broken API is met afresh."""

    def clear() -> None:
        for cached in (prefilter._api, prefilter._required, prefilter._leaf, spam._extractors):
            cached.cache_clear()

    clear()
    yield
    clear()


def _gates(engine: RulesEngine) -> list[PatternGate]:
    return [rule._gate for rule in engine.rules if isinstance(getattr(rule, "_gate", None), PatternGate)]  # type: ignore[attr-defined]


def test_the_shortcuts_change_no_hit_on_the_table_and_the_seed_comments(reference: dict[str, Any]) -> None:
    engine = _engine()
    assert _outputs(engine, _variants(TEXTS)) == reference["table"]
    assert _outputs(engine, [normalize(t).text for t in SEED]) == reference["seed"]
    assert all(not all(g.mask("hello")) for g in _gates(engine))  # the gates do skip patterns


def test_the_gates_and_the_phone_shortcut_change_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _variants(TEXTS)
    gated = _outputs(RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=ROSTER), texts)
    monkeypatch.setattr(PatternGate, "mask", lambda self, text: [True] * len(self))
    monkeypatch.setattr(pii, "_PHONE_DIGITS", 0)
    everything = _outputs(RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=ROSTER), texts)
    assert gated == everything


def test_the_abuse_word_memo_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _variants(TEXTS)
    rule = abuse.AbuseRule.from_file(DEFAULT_RULES_DIR / "abuse.yaml")
    first = [rule.find(t) for t in texts]
    again = [rule.find(t) for t in reversed(texts)][::-1]  # every token already read
    monkeypatch.setattr(abuse, "_MEMO_SIZE", 1)  # emptied before nearly every word
    emptied = [rule.find(t) for t in texts]
    assert first == again == emptied


GATE_CASES = [
    # (pattern, flags, text, what the gate says)
    (r"\bsort ?code\b", re.IGNORECASE, "Sort code please", True),
    (r"\bsort ?code\b", re.IGNORECASE, "SORTCODE", True),
    (r"\bsort ?code\b", re.IGNORECASE, "what a resort", False),
    (r"\d{8}", 0, "12345678", True),
    (r"\d{8}", 0, "١٢٣٤٥٦٧٨", True),  # Arabic-Indic digits are \d too
    (r"\d{8}", 0, "no numbers here", False),
    (r"\bkill\b", re.IGNORECASE, "\u212aILL", True),  # Kelvin sign
    (r"\bsuck\b", re.IGNORECASE, "ſuck", True),  # long s
    (r"\bis\b", re.IGNORECASE, "İs", True),  # dotted capital I
    (r"thank\s+you", re.IGNORECASE, "thank\u00a0you", True),
    (r"thank\s+you", re.IGNORECASE, "thanks", False),
    (r"(?:😍|❤️)", 0, "love it 😍", True),
    (r"(?:😍|❤️)", 0, "love it", False),
    (r"\bcon\b", re.IGNORECASE, "😡con", True),
    (r"\bcon\b", re.IGNORECASE, "an icon", False),
    (r"(?-i:\b[A-Z]{4,}\b)", re.IGNORECASE, "HELLO there", True),
    (r"\b(?:at|no\.?)\s+\d{1,4}[a-z]?,?\s+(?-i:[A-Z][a-z]+)\b", re.IGNORECASE, "AT 14 Ashton", True),
    (r"\b(?:at|no\.?)\s+\d{1,4}[a-z]?,?\s+(?-i:[A-Z][a-z]+)\b", re.IGNORECASE, "nothing at all", False),
]


@pytest.mark.parametrize(("pattern", "flags", "text", "says"), GATE_CASES)
def test_a_gate_never_rules_out_a_pattern_that_matches(pattern: str, flags: int, text: str, says: bool) -> None:
    regex = re.compile(pattern, flags)
    possible = PatternGate([regex]).mask(text)[0]
    if regex.search(text):
        assert possible
    assert possible is says


def _urlextract_style(names: list[str]) -> re.Pattern[str]:
    """A TLD regex built as URLExtract builds its own: longest names first, IPv4 ends, localhost."""
    ordered = sorted(names, key=len, reverse=True) + [f".{i}" for i in reversed(range(256))] + ["localhost"]
    return re.compile("|".join(re.escape(n) for n in ordered), flags=re.IGNORECASE)


TLD_TEXTS = [
    "go to example.com now", "EXAMPLE.COM", "a.co.uk/b", "x.co", "x.co.", "x.com.au?", "10.0.0.255", "1.2555",
    "localhost:80", "LocalHost", "localhoſt", "ok.рф", "OK.РФ", "x.\u212az", "x.kz", "a..b", ".", "", "no dots",
    "emoji 😍.com and.com😍", "tail.", "x.comcast.net", "\u0130.com",
]


def test_the_tld_finder_lists_what_the_regex_lists() -> None:
    regex = _urlextract_style([".com", ".co", ".co.uk", ".uk", ".au", ".com.au", ".net", ".comcast", ".kz", ".рф", ".政府"])
    finder = TldFinder.replacing(regex)
    assert isinstance(finder, TldFinder)
    rng = random.Random(7)
    pieces = [".com", ".CO", ".co.uk", ".рф", ".kz", ".\u212az", "ſ", "localhost", "LOCALHOST", ".1", ".25", ".256",
              " ", "😍", "a", "-", "/"]
    made = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(2000)]
    for text in TLD_TEXTS + made + TEXTS:
        assert finder.findall(text) == regex.findall(text), text


def test_the_tld_finder_matches_urlextracts_own_regex() -> None:
    from urlextract import URLExtract

    regex = URLExtract(cache_dns=False)._tlds_re
    finder = TldFinder.replacing(regex)
    assert isinstance(finder, TldFinder)  # else the spam rule runs at the old speed
    for text in TLD_TEXTS + _variants(TEXTS):
        assert finder.findall(text) == regex.findall(text), text


@pytest.mark.parametrize("regex", [
    re.compile(r".com|.co", re.IGNORECASE),  # names not escaped: "." matches anything
    re.compile(re.escape(".co") + "|" + re.escape(".com"), re.IGNORECASE),  # the shorter name would win
    re.compile(re.escape(".com") + "|" + re.escape(".net")),  # case-sensitive
    re.compile(re.escape(".com") + "|" + re.escape("www"), re.IGNORECASE),  # a name that is not a dot name
])
def test_the_tld_finder_keeps_a_regex_it_cannot_prove_the_same(regex: re.Pattern[str]) -> None:
    assert TldFinder.replacing(regex) is regex


# -- the private APIs removed or broken: slower, never different ----------------------------------

def _raise(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("private API changed")


def _no_parser(mp: pytest.MonkeyPatch) -> None:
    mp.setitem(sys.modules, "re._parser", None)  # importing it now fails


def _parser_raises(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(re._parser, "parse", _raise)  # type: ignore[attr-defined]


def _opcode_gone(mp: pytest.MonkeyPatch) -> None:
    mp.delattr(re._constants, "SUBPATTERN")  # type: ignore[attr-defined]


def _nodes_reshaped(mp: pytest.MonkeyPatch) -> None:
    parse = re._parser.parse  # type: ignore[attr-defined]

    def reshaped(pattern: str, flags: int = 0) -> Any:
        tree = parse(pattern, flags)
        tree.data = [(op, av, None) for op, av in tree.data]  # a third field in every node
        return tree

    mp.setattr(re._parser, "parse", reshaped)  # type: ignore[attr-defined]


def _parser_misreads(mp: pytest.MonkeyPatch) -> None:
    parse = re._parser.parse  # type: ignore[attr-defined]
    mp.setattr(re._parser, "parse", lambda pattern, flags=0: parse("zebra", flags))  # type: ignore[attr-defined]


@pytest.mark.parametrize("breakage", [_no_parser, _parser_raises, _opcode_gone, _nodes_reshaped, _parser_misreads])
def test_with_the_regex_parser_removed_or_broken_every_rule_runs_and_the_hits_are_the_same(
        breakage: Callable[[pytest.MonkeyPatch], None], reference: dict[str, Any], fresh_caches: None,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    breakage(monkeypatch)
    prefilter._noted.clear()
    with caplog.at_level(logging.INFO, logger="model.rules.prefilter"):
        engine = _engine()
    assert all(all(g.mask("hello")) for g in _gates(engine))  # the gates stand aside: every pattern runs
    notes = [r for r in caplog.records if r.name == "model.rules.prefilter"]
    assert len(notes) == 1 and "always run" in notes[0].getMessage()  # said once, however many patterns
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert _outputs(engine, _variants(TEXTS)) == reference["table"]
        assert _outputs(engine, [normalize(t).text for t in SEED[::SEED_STEP]]) == reference["seed"][::SEED_STEP]
    assert not [r for r in caplog.records if r.name.startswith("model.rules")]  # nothing logged per comment


class _FindallOnly:
    """A TLD matcher of another shape: not a compiled regex at all."""

    def __init__(self, regex: re.Pattern[str]):
        self._regex = regex

    def findall(self, text: str) -> list[str]:
        return self._regex.findall(text)


def _tlds_reshaped(mp: pytest.MonkeyPatch) -> None:
    from urlextract import URLExtract

    init = URLExtract.__init__

    def reshaped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._tlds_re = _FindallOnly(self._tlds_re)

    mp.setattr(URLExtract, "__init__", reshaped)


def _finder_cannot_be_built(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(TldFinder, "_longest", property(_raise), raising=False)  # setting it in __init__ fails


def _proof_raises(mp: pytest.MonkeyPatch) -> None:
    mp.setattr("model.rules.tlds._unprovable", _raise)


@pytest.mark.parametrize("breakage", [_tlds_reshaped, _finder_cannot_be_built, _proof_raises])
def test_with_urlextracts_tld_regex_of_another_shape_the_spam_hits_are_the_same(
        breakage: Callable[[pytest.MonkeyPatch], None], reference: dict[str, Any], fresh_caches: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    breakage(monkeypatch)
    engine = _engine()
    urls, _ = spam._extractors()
    assert not isinstance(urls._tlds_re, TldFinder)  # URLExtract kept its own
    assert _outputs(engine, _variants(TEXTS)) == reference["table"]
    assert _outputs(engine, [normalize(t).text for t in SEED[::SEED_STEP]]) == reference["seed"][::SEED_STEP]


def test_when_urlextracts_tld_attribute_cannot_be_read_the_finder_is_not_installed(fresh_caches: None,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    class Urls:
        @property
        def _tlds_re(self) -> re.Pattern[str]:
            raise AttributeError("gone")

    spam._speed_up(Urls())  # no error
    frozen = type("Frozen", (), {"__slots__": (), "_tlds_re": _urlextract_style([".com"])})()
    spam._speed_up(frozen)  # the attribute cannot be set: no error either
    assert frozen._tlds_re.pattern.startswith(r"\.com")


@pytest.mark.parametrize("thing", [re.compile(rb"\.com|\.net", re.IGNORECASE), ".com|.net", None, 42, _FindallOnly(re.compile("x"))])
def test_the_tld_finder_keeps_anything_that_is_not_a_text_regex(thing: object) -> None:
    assert TldFinder.replacing(thing) is thing


def test_the_tld_finder_passes_any_other_use_to_the_regex() -> None:
    regex = _urlextract_style([".com", ".co.uk", ".uk"])
    finder = TldFinder.replacing(regex)
    assert isinstance(finder, TldFinder)
    text = "see example.co.uk and x.com"
    assert finder.findall(text, 0, 12) == regex.findall(text, 0, 12)
    assert finder.search(text).span() == regex.search(text).span()  # type: ignore[union-attr]
    assert [m.span() for m in finder.finditer(text)] == [m.span() for m in regex.finditer(text)]
