"""Loading and validating the rule files in ``data/rules``.

Every file is checked when it is read; an error names the file, the entry and the
key that is wrong, so whoever edits a word list learns what to fix at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, field_validator

from model.rules.base import AbuseCategory, RuleConfigError
from model.shipped import RULES_DIR
from model.yamlfiles import Regex, load_yaml
from model.yamlfiles import StrictModel as _Strict

DEFAULT_RULES_DIR = RULES_DIR


class PhraseSpec(_Strict):
    name: str
    regex: Regex
    score: float = Field(ge=0.0, le=1.0)


class AbusePhraseSpec(PhraseSpec):
    category: AbuseCategory


class TermSpec(_Strict):
    term: str = Field(min_length=1)
    category: Literal["swear", "insult", "hate", "obscene"]  # words alone; threats and wishing harm are phrases
    score: float = Field(ge=0.0, le=1.0)
    match: Literal["exact", "prefix", "infix"] = "exact"
    forms: list[str] = Field(default_factory=list)

    @field_validator("term", "forms")
    @classmethod
    def _lower_letters(cls, value: str | list[str]) -> str | list[str]:
        words = value if isinstance(value, list) else [value]
        for word in words:
            if not re.fullmatch(r"[a-z]+", word):
                raise ValueError(f"{word!r} must be lower-case letters only (disguises are undone before matching)")
        return value


class AbuseFile(_Strict):
    terms: list[TermSpec]
    not_abusive: list[str] = Field(default_factory=list)
    phrases: list[AbusePhraseSpec] = Field(default_factory=list)


class CuesFile(_Strict):
    query: list[PhraseSpec]
    complaint: list[PhraseSpec]
    compliment: list[PhraseSpec]
    negative: list[PhraseSpec]
    not_query: list[PhraseSpec] = Field(default_factory=list)
    not_compliment: list[PhraseSpec] = Field(default_factory=list)


class PiiFile(_Strict):
    patterns: list[PhraseSpec]
    vulnerability: list[PhraseSpec]
    reference_patterns: list[PhraseSpec]
    person_context: str
    phone_region: str = "GB"


class SpamFile(_Strict):
    shorteners: list[str]
    brands: dict[str, list[str]]
    risky_tlds: list[str] = Field(default_factory=list)
    phrases: list[PhraseSpec]


class StaffRolesFile(_Strict):
    roles: list[str]
    titles: list[str]
    window: int = Field(default=6, ge=1, le=20)


class OrgFile(_Strict):
    name: str
    handles: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    postcodes: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def load_rule_file(path: Path, schema: type[M]) -> M:
    """Read one rule file against its schema; a :class:`RuleConfigError` names the file and the key."""
    return load_yaml(path, schema, error=RuleConfigError, what="rule file")
