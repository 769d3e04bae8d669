"""Personal data on a public page (the ``pii`` label), with validators and redaction types.

Phone numbers come from Google's ``phonenumbers`` matcher at POSSIBLE leniency, so the
Ofcom drama ranges people copy into posts (07700 900xxx) still count. Everything else is
a validated pattern from ``data/rules/pii.yaml``: payment cards must pass Luhn, IBANs
their check digits. The organisation's own contact details are never personal data.

Presidio was considered and measured (shared/MACHINE_NOTES.md): its UK recognisers are
regular expressions much like these, but importing it loads spaCy (1.4-2 s) and its
small pattern set alone costs 0.64 ms a comment, most of the rules path's 1 ms budget.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import phonenumbers
from phonenumbers import Leniency, PhoneNumberType
from schwifty import IBAN
from stdnum import luhn

from model.rules.base import UNLIMITED, Budget, Hit, Pattern, Spans, Validator
from model.rules.files import OrgFile, PiiFile, load_rule_file
from model.rules.prefilter import PatternGate

# When two findings overlap, the more specific one wins (a card number is not a phone).
_PRIORITY = {
    "EMAIL": 0, "CARD": 1, "IBAN": 1, "BANK_ACCOUNT": 2, "NINO": 2, "DOB": 3, "REFERENCE": 4,
    "PHONE": 5, "ADDRESS": 6, "POSTCODE": 7, "PERSON": 8, "VULNERABILITY": 9,
}
# Personal numbers are mobiles and home lines; freephone, 03 and premium numbers belong
# to organisations and are not personal data.
_PERSONAL_TYPES = frozenset({
    PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UNKNOWN, PhoneNumberType.VOIP,
})
_POSTCODE = re.compile(
    r"\b(?:[a-pr-uwyz][0-9]{1,2}|[a-pr-uwyz][a-hk-y][0-9]{1,2}|[a-pr-uwyz][0-9][a-hjkpstuw]|[a-pr-uwyz][a-hk-y][0-9][abehmnprvwxy])"
    r" ?[0-9][abd-hjlnp-uw-z]{2}\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
# A phone hit needs a match with at least this many digits, or one that starts with "+".
_PHONE_DIGITS = 10


def _luhn_ok(value: str) -> bool:
    digits = _DIGITS.sub("", value)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _iban_ok(value: str) -> bool:
    try:
        IBAN(value.replace(" ", "").upper())
    except ValueError:
        return False
    return True


VALIDATORS: dict[str, Validator] = {"CARD": _luhn_ok, "IBAN": _iban_ok}


def _squash(value: str) -> str:
    return re.sub(r"[^a-z0-9@.]", "", value.lower())


class PiiRule:
    """Find personal data; each hit carries its entity type for redaction."""

    name = "pii"

    def __init__(self, spec: PiiFile, org: OrgFile, *, where: str = "pii.yaml"):
        self._patterns = [Pattern.build(p.name, p.regex, p.score, where=where) for p in spec.patterns]
        self._references = [Pattern.build(p.name, p.regex, p.score, where=where) for p in spec.reference_patterns]
        self._vulnerability = [Pattern.build(p.name, p.regex, p.score, where=where) for p in spec.vulnerability]
        try:
            self._person_context = re.compile(spec.person_context, re.IGNORECASE)
        except re.error as exc:
            from model.rules.base import RuleConfigError

            raise RuleConfigError(f"{where}: person_context does not compile: {exc}") from exc
        self._region = spec.phone_region
        self._scan = [*self._patterns, *self._references, *self._vulnerability]
        # Most comments cannot match most patterns; the gate says which can (results unchanged).
        self._gate = PatternGate([*(p.regex for p in self._scan), _POSTCODE])
        self._org_phones = {self._national(p) for p in org.phones}
        self._org_values = {_squash(v) for v in [*org.emails, *org.postcodes, *org.addresses]}

    @classmethod
    def from_files(cls, pii_path: Path, org_path: Path) -> PiiRule:
        return cls(load_rule_file(pii_path, PiiFile), load_rule_file(org_path, OrgFile), where=str(pii_path))

    def _national(self, number: str) -> str:
        try:
            return str(phonenumbers.parse(number, self._region).national_number)
        except phonenumbers.NumberParseException:
            return _DIGITS.sub("", number)

    def _is_org(self, value: str) -> bool:
        squashed = _squash(value)
        return any(org and org in squashed for org in self._org_values)

    def _phones(self, text: str, budget: Budget) -> list[Hit]:
        # The matcher is slow; a hit needs ten digits or a "+", so skip texts with neither.
        if "+" not in text and len(_DIGIT.findall(text)) < _PHONE_DIGITS:
            return []
        hits: list[Hit] = []
        for match in phonenumbers.PhoneNumberMatcher(text, self._region, leniency=Leniency.POSSIBLE):
            budget.check("pii.phone")
            raw = match.raw_string
            digits = _DIGITS.sub("", raw)
            if len(digits) < 10 and not raw.startswith("+"):
                continue  # "12 34 56", times and sums of money look like short numbers
            if str(match.number.national_number) in self._org_phones:
                continue
            number_type = phonenumbers.number_type(match.number)
            if number_type not in _PERSONAL_TYPES:
                continue
            score = 0.95 if phonenumbers.is_valid_number(match.number) else 0.85
            hits.append(Hit("pii", "pii.phone", score, match.start, match.end, detail="phone number", entity="PHONE",
                            category="phone"))
        return hits

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        # Keeps nothing of the text between calls, so ``remember`` changes nothing here.
        found: list[Hit] = self._phones(text, budget)
        *possible, postcode_possible = self._gate.mask(text)
        for pattern, ok in zip(self._scan, possible, strict=True):
            if not ok:
                continue
            budget.check(f"pii.{pattern.name.lower()}")
            entity = pattern.name.split(".", 1)[0]
            validator = VALIDATORS.get(entity)
            for m in pattern.regex.finditer(text):
                value = m.group()
                if validator is not None and not validator(value):
                    continue
                if entity in {"EMAIL", "ADDRESS"} and self._is_org(value):
                    continue
                if entity in {"REFERENCE", "BANK_ACCOUNT"} and not any(c.isdigit() for c in value):
                    continue
                found.append(Hit("pii", f"pii.{pattern.name.lower()}", pattern.score, m.start(), m.end(),
                                 detail=pattern.name.split(".", 1)[1].replace("_", " "), entity=entity, category=entity.lower()))
        for m in _POSTCODE.finditer(text) if postcode_possible else ():
            if self._is_org(m.group()):
                continue
            context = text[max(0, m.start() - 60) : m.start()]
            tied = bool(self._person_context.search(context))
            found.append(Hit("pii", "pii.postcode", 0.9 if tied else 0.55, m.start(), m.end(),
                             detail="postcode tied to a person" if tied else "postcode with no person attached",
                             entity="POSTCODE", category="postcode"))
        return self._resolve(found)

    @staticmethod
    def _resolve(hits: list[Hit]) -> list[Hit]:
        """Keep the most specific finding where findings overlap."""
        kept: list[Hit] = []
        taken = Spans()  # what the kept findings cover (a vulnerability overlaps anything and covers nothing)
        for hit in sorted(hits, key=lambda h: (_PRIORITY.get(h.entity or "", 99), h.start)):
            if hit.entity == "VULNERABILITY":
                kept.append(hit)
            elif not taken.overlaps(hit.start, hit.end):
                kept.append(hit)
                taken.add(hit.start, hit.end)
        # A name is personal data when something else about the person is given too.
        if any(h.entity == "PERSON" for h in kept) and any(h.entity not in {"PERSON", None} for h in kept):
            kept = [replace(h, score=0.9) if h.entity == "PERSON" else h for h in kept]
        return sorted(kept, key=lambda h: h.start)
