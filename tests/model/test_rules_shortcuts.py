"""The rules' shortcuts change no result: pattern gates, the TLD finder, the word memo.

Each shortcut is checked against the slow path it stands in for, on the rule table's
texts and on texts built to trip it: case folding beyond ASCII (the Kelvin sign, long
s, dotted I), non-ASCII digits and spaces, emoji next to words, URLs and dotted names.
"""

from __future__ import annotations

import random
import re

import pytest

from model.normalize import normalize
from model.rules import abuse, pii
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


def _variants(texts: list[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        out += [text, normalize(text).text, text.upper(), text.lower(), text.replace(" ", "\u00a0")]
    return out


def _outputs(engine: RulesEngine, texts: list[str]) -> list[tuple[list[tuple[object, ...]], dict[str, float]]]:
    results = []
    for text in texts:
        out = engine.analyze(text)
        results.append(([(h.rule, h.target, h.score, h.start, h.end, h.detail, h.entity) for h in out.hits], out.scores))
    return results


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
