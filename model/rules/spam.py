"""Advertising, scams, phishing and malicious or look-alike links (the ``spam`` flag)."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.rules.base import UNLIMITED, Budget, Hit, Pattern
from model.rules.files import OrgFile, SpamFile, load_rule_file
from model.rules.prefilter import PatternGate
from model.rules.tlds import TldFinder

if TYPE_CHECKING:
    from tldextract import TLDExtract
    from urlextract import URLExtract

logger = logging.getLogger(__name__)

_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_LEET_I = str.maketrans({"1": "i", "l": "i"})
# Words that throwaway phishing and offer domains are made of ("free-boiler-grants-uk").
_BAIT_WORDS = ("refund", "verify", "verified", "secure", "claim", "grant", "free", "reward", "login", "billing",
               "update", "badge", "prize", "winner", "cash", "loan", "deal", "clearance", "boost", "track", "recover",
               "partner", "support", "dl", "files", "bonus", "crypto", "invest")


@lru_cache(maxsize=1)
def _extractors() -> tuple[URLExtract, TLDExtract]:
    """URL finders, built once; neither may reach the network (no suffix-list download)."""
    import tldextract
    from urlextract import URLExtract

    urls = URLExtract(cache_dns=False)
    _speed_up(urls)
    return urls, tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _speed_up(urls: Any) -> None:
    """Swap URLExtract's TLD regex, the slow part, for a set-based finder when that provably gives the
    same matches (model/rules/tlds.py). ``_tlds_re`` is private: if it is gone or cannot be set, or is not
    what the finder can prove the same, URLExtract keeps its own regex (slower, same results)."""
    try:
        regex = urls._tlds_re
        finder = TldFinder.replacing(regex)
        if finder is not regex:
            urls._tlds_re = finder
    except Exception as exc:  # noqa: BLE001 - any surprise in a private attribute costs speed, never results
        logger.info("URLExtract's TLD regex kept as it is (slower, same results): %s", type(exc).__name__)


class SpamRule:
    """Find scam phrasing and suspicious links."""

    name = "spam"

    def __init__(self, spec: SpamFile, org: OrgFile, *, where: str = "spam.yaml"):
        self._phrases = [Pattern.build(p.name, p.regex, p.score, where=where) for p in spec.phrases]
        self._shorteners = frozenset(s.lower() for s in spec.shorteners)
        self._brands = {b.lower(): frozenset(d.lower() for d in ds) for b, ds in spec.brands.items()}
        self._risky_tlds = frozenset(spec.risky_tlds)
        self._own_domains = frozenset(d.lower() for d in org.domains)
        self._own_handles = tuple(h.lower() for h in org.handles)
        self._cheap_url = re.compile(r"https?://|www\.|\.[a-z]{2,}\b", re.IGNORECASE)
        self._gate = PatternGate([p.regex for p in self._phrases])

    @classmethod
    def from_files(cls, spam_path: Path, org_path: Path) -> SpamRule:
        rule = cls(load_rule_file(spam_path, SpamFile), load_rule_file(org_path, OrgFile), where=str(spam_path))
        rule.find("warm up http://example.com")  # load the URL finders' suffix lists now, not on a request
        return rule

    def _judge_domain(self, host: str) -> tuple[float, str] | None:
        _, tld = _extractors()
        parts = tld(host)
        registered = parts.top_domain_under_public_suffix.lower() if parts.suffix else host.lower()
        full = host.lower()
        if registered in self._own_domains:
            return None
        if registered in self._shorteners or full in self._shorteners:
            return 0.6, "link shortener hides the destination"
        label = parts.domain.lower()
        for brand, real in self._brands.items():
            if registered in real:
                return None
            folded = label.translate(_LEET)
            squashed = re.sub(r"[^a-z0-9]", "", label)
            if folded == brand or label.translate(_LEET_I) == brand.translate(_LEET_I):
                if label != brand or registered not in real:
                    return 0.95, f"look-alike of {brand}"
            if len(brand) >= 5 and (brand in squashed or brand in folded.replace("-", "")
                                    or brand.translate(_LEET_I) in squashed.translate(_LEET_I)):
                return 0.9, f"uses the name {brand} on a domain that is not theirs"
        if any(word in label for word in _BAIT_WORDS) and "-" in label:
            return 0.75, "domain name built from bait words"
        if parts.suffix.split(".")[-1] in self._risky_tlds:
            return 0.55, f"throwaway top-level domain .{parts.suffix}"
        return None

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        # Keeps nothing of the text between calls, so ``remember`` changes nothing here.
        hits: list[Hit] = []
        lowered = text.lower()
        for pattern, possible in zip(self._phrases, self._gate.mask(lowered), strict=True):
            if not possible:
                continue
            budget.check(f"spam.{pattern.name}")
            for m in pattern.regex.finditer(lowered):
                if any(handle in m.group() for handle in self._own_handles):
                    continue  # thanking or tagging the organisation itself
                hits.append(Hit("spam", f"spam.{pattern.name}", pattern.score, m.start(), m.end(), detail="scam or advert phrasing",
                                category="phrase"))
        if self._cheap_url.search(text):
            extractor, _ = _extractors()
            budget.check("spam.link")
            for url, (start, end) in extractor.find_urls(text, get_indices=True, only_unique=False):
                budget.check("spam.link")
                host = re.sub(r"^[a-z]+://", "", url.lower()).split("/")[0].split(":")[0].split("?")[0]
                if "@" in host:
                    continue  # an email address, handled by the PII rules
                verdict = self._judge_domain(host)
                if verdict:
                    score, why = verdict
                    hits.append(Hit("spam", "spam.link", score, start, end, detail=why, category="link"))
        return hits
