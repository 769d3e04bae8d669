"""The rules engine: every detector over one normalised text, and a score per target.

High-precision detectors (personal data, abuse, spam, staff) score a target by their
strongest hit; the cue detectors combine their cues as a noisy-or. The engine also
applies the guide's links between labels: most complaints are negative, and abuse
aimed at someone is negative too (hate at a group alone is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.labels import TARGETS
from model.rules.abuse import NEGATIVE_CATEGORIES, AbuseRule
from model.rules.base import CUE_CATEGORIES, Budget, BudgetExceeded, Hit, Rule
from model.rules.cues import CUE_LABELS, CueRule
from model.rules.files import DEFAULT_RULES_DIR
from model.rules.pii import PiiRule
from model.rules.spam import SpamRule
from model.rules.staff import StaffRule

# Scores at or above this count as "high precision": the pipeline keeps them even when
# a learnt model disagrees.
PRECISE_SCORE = 0.85
PRECISE_TARGETS = frozenset({"pii", "abusive", "spam", "staff_named"})
COMPLAINT_TO_NEGATIVE = 0.85
ABUSE_TO_NEGATIVE = 0.6
SPAM_OVERRIDES_CONTACT = 0.75
CONTACT_ENTITIES = frozenset({"PHONE", "EMAIL", "PERSON"})


@dataclass(frozen=True, slots=True)
class RulesOutput:
    hits: list[Hit]
    scores: dict[str, float]
    # Why the rules stopped before the end (their time budget ran out): the step cut short, the time
    # spent and the rules that never ran. None when every rule ran to the end.
    cut_short: str | None = None


class RulesEngine:
    """Run every rule; build with :meth:`from_dir` (the files are validated as they load).

    >>> engine = RulesEngine.from_dir(DEFAULT_RULES_DIR, staff_roster=None)  # doctest: +SKIP
    >>> engine.analyze("call me on 07700 900123").scores["pii"]  # doctest: +SKIP
    0.85
    """

    def __init__(self, rules: list[Rule]):
        self.rules = rules

    @classmethod
    def from_dir(cls, rules_dir: Path = DEFAULT_RULES_DIR, *, staff_roster: Path | None, org_file: Path | None = None) -> RulesEngine:
        org = org_file or rules_dir / "org.yaml"
        return cls([
            PiiRule.from_files(rules_dir / "pii.yaml", org),
            AbuseRule.from_file(rules_dir / "abuse.yaml"),
            SpamRule.from_files(rules_dir / "spam.yaml", org),
            StaffRule.from_files(staff_roster, rules_dir / "staff_roles.yaml"),
            CueRule.from_file(rules_dir / "cues.yaml"),
        ])

    def analyze(self, text: str, budget: Budget | None = None, *, remember: bool = True) -> RulesOutput:
        """Every rule over ``text``, in order (personal data first). With a ``budget``, a rule that runs past
        it is cut short and the rules after it are skipped; the hits found until then still count, and
        ``cut_short`` says where and why (the pipeline sends such a comment to review). ``remember=False``:
        no rule keeps anything of ``text`` (the abuse rule's memo of words it has read)."""
        hits: list[Hit] = []
        cut_short = None
        budget = budget or Budget(None)
        for index, rule in enumerate(self.rules):
            try:
                budget.check(f"{rule.name} (before it started)")
                hits.extend(rule.find(text, budget, remember=remember))
            except BudgetExceeded as exc:
                started = not exc.step.endswith("(before it started)")
                skipped = [r.name for r in self.rules[index + started:]]
                cut_short = f"rules cut short at {exc}" + (f"; not run: {', '.join(skipped)}" if skipped else "")
                break
        scores: dict[str, float] = dict.fromkeys(TARGETS, 0.0)
        misses: dict[str, float] = dict.fromkeys(CUE_LABELS, 1.0)
        for hit in hits:
            if hit.category in CUE_CATEGORIES:
                misses[hit.target] *= 1.0 - hit.score
            else:
                scores[hit.target] = max(scores[hit.target], hit.score)
        for label, miss in misses.items():
            scores[label] = max(scores[label], round(1.0 - miss, 4))
        scores["negative"] = max(scores["negative"], round(scores["complaint"] * COMPLAINT_TO_NEGATIVE, 4))
        # A number or address posted by a spammer is the advertiser's, not personal data.
        if scores["spam"] >= SPAM_OVERRIDES_CONTACT and scores["pii"] > 0:
            personal = [h for h in hits if h.target == "pii" and h.entity not in CONTACT_ENTITIES]
            scores["pii"] = max((h.score for h in personal), default=0.0)
        if any(h.target == "abusive" and h.category in NEGATIVE_CATEGORIES and h.score >= 0.5 for h in hits):
            scores["negative"] = max(scores["negative"], ABUSE_TO_NEGATIVE)
        return RulesOutput(hits, scores, cut_short)
