"""Cue-based detectors for query, complaint, compliment and negative.

They stand in when no learnt model is loaded. Each label's score is the noisy-or of
its cues' scores; "veto" cues (rhetorical questions, sarcasm, thanks at the end of a
question) scale a label down. They mark what they found so a moderator can see why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from model.labels import Label
from model.rules.base import UNLIMITED, Budget, Hit, Pattern
from model.rules.files import CuesFile, PhraseSpec, load_rule_file
from model.rules.prefilter import PatternGate

CUE_LABELS: Final[tuple[Label, ...]] = ("query", "complaint", "compliment", "negative")


class CueRule:
    """Score the four judgement labels from cue phrases."""

    name = "cues"

    def __init__(self, spec: CuesFile, *, where: str = "cues.yaml"):
        def build(items: list[PhraseSpec]) -> list[Pattern]:
            return [Pattern.build(c.name, c.regex, c.score, where=where) for c in items]

        # Emoji and capitals matter for some cues, so these patterns see the original case.
        cues: dict[Label, list[PhraseSpec]] = {"query": spec.query, "complaint": spec.complaint, "compliment": spec.compliment,
                                               "negative": spec.negative}
        self._cues = {label: build(cues[label]) for label in CUE_LABELS}
        self._vetoes: dict[Label, list[Pattern]] = {"query": build(spec.not_query), "compliment": build(spec.not_compliment)}
        # One gate over every cue and veto: a pattern that cannot match is not searched for.
        everything = [p for patterns in [*self._cues.values(), *self._vetoes.values()] for p in patterns]
        self._gate = PatternGate([p.regex for p in everything])
        slots = iter(range(len(everything)))
        self._cue_slots = {label: [(p, next(slots)) for p in patterns] for label, patterns in self._cues.items()}
        self._veto_slots = {label: [(p, next(slots)) for p in patterns] for label, patterns in self._vetoes.items()}

    @classmethod
    def from_file(cls, path: Path) -> CueRule:
        return cls(load_rule_file(path, CuesFile), where=str(path))

    def find(self, text: str, budget: Budget = UNLIMITED, *, remember: bool = True) -> list[Hit]:
        # Keeps nothing of the text between calls, so ``remember`` changes nothing here.
        hits: list[Hit] = []
        possible = self._gate.mask(text)
        for label, patterns in self._cue_slots.items():
            budget.check(f"cues.{label}")
            label_hits: list[Hit] = []
            for pattern, slot in patterns:
                m = pattern.regex.search(text) if possible[slot] else None
                if m:
                    label_hits.append(Hit(label, f"cues.{label}.{pattern.name}", pattern.score, m.start(), m.end(), detail="cue",
                                          category="cue"))
            if not label_hits:
                continue
            veto = 0.0
            for pattern, slot in self._veto_slots.get(label, []):
                m = pattern.regex.search(text) if possible[slot] else None
                if m:
                    veto = max(veto, pattern.score)
                    hits.append(Hit(label, f"cues.not_{label}.{pattern.name}", 0.0, m.start(), m.end(),
                                    detail=f"vetoes {label} ({pattern.score:.2f})", category="veto"))
            if veto:
                label_hits = [replace(h, score=round(h.score * (1 - veto), 4)) for h in label_hits]
            hits.extend(label_hits)
        return hits
