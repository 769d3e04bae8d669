"""The classification pipeline, read top to bottom.

validate -> normalise -> language -> learnt model (if one is loaded and the language is one it
was trained for) -> rules -> merge (high-precision rule hits always count) -> thresholds ->
review decision -> redaction.

Every step that ran is listed in the result's ``steps``; a fallback to the rules says
why in ``fallback_reason`` and in the log (without the comment's text).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from model.classifier import Classifier
from model.labels import FLAGS, LABELS, TARGETS
from model.language import Language, LanguageDetector
from model.normalize import NormalizedText, normalize
from model.result import Classification, Evidence, Source
from model.rules.base import Budget, Hit
from model.rules.engine import PRECISE_SCORE, PRECISE_TARGETS, RulesEngine, RulesOutput

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 10_000
# The time one comment's rules may take by default (settings: SIFT_RULES_BUDGET_MS); past it they are cut
# short and the comment goes to review. An ordinary comment takes about a millisecond, a 10,000-character one
# of ordinary comments about 0.1 s; a 10,000-character run of digit groups 0.7 s.
RULES_BUDGET_SECONDS = 0.25


class InvalidTextError(ValueError):
    """The text cannot be classified; the message says what to fix."""


@dataclass(frozen=True)
class DecisionPolicy:
    """Thresholds and uncertain bands used when the rules decide (the model brings its own).

    A score at or above ``threshold`` turns the label on; a score in ``[low, high)`` of
    the band sends the comment to review.
    """

    thresholds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0.5))
    review_bands: dict[str, tuple[float, float]] = field(default_factory=lambda: dict.fromkeys(TARGETS, (0.35, 0.65)))
    # Bands set by the operator win over the model artifact's own (settings: SIFT_REVIEW_BANDS).
    band_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for target, value in self.thresholds.items():
            if target not in TARGETS or not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold for {target!r} must be a label or flag with a value in [0, 1], got {value!r}")
        for target, (low, high) in {**self.review_bands, **self.band_overrides}.items():
            if target not in TARGETS or not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"review band for {target!r} must satisfy 0 <= low <= high <= 1, got {(low, high)!r}")


class Pipeline:
    """Classify comments with a learnt model when one is loaded, and rules always.

    >>> pipeline = Pipeline(RulesEngine.from_dir(staff_roster=None))  # doctest: +SKIP
    >>> pipeline.classify("call me on 07700 900123").labels  # doctest: +SKIP
    ['query', 'pii']
    """

    def __init__(self, rules: RulesEngine, classifier: Classifier | None = None, policy: DecisionPolicy | None = None,
                 *, missing_model_reason: str = "no learnt model is loaded", cache_size: int = 0,
                 languages: LanguageDetector | None = None, rules_budget: float | None = RULES_BUDGET_SECONDS):
        self.rules = rules
        Budget(rules_budget)  # refuses a negative budget at construction
        self.rules_budget = rules_budget  # seconds per comment; None: no limit
        # Detects each comment's language; the model labels only those in the languages it was trained for.
        self.languages = languages
        self.classifier = classifier
        self.policy = policy or DecisionPolicy()
        self.missing_model_reason = missing_model_reason
        # The model's scores for recently seen texts (copy-pasted campaigns, spam waves): same normalised
        # text, same model, same scores. Lives and dies with this pipeline, so a new model starts empty.
        self.cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model_version(self) -> str | None:
        return self.classifier.version if self.classifier else None

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    @property
    def supported_languages(self) -> tuple[str, ...]:
        """The ISO 639-1 codes the model (or, without one, the rules' English word lists) reads."""
        return tuple(getattr(self.classifier, "languages", ()) or ()) or ("en",)

    def detect_language(self, text: str) -> Language | None:
        """The language of ``text`` as :meth:`classify_many` will see it (``None``: no detector configured)."""
        return self.languages.detect(normalize(self._validate(text)).text) if self.languages else None

    def classify_many(self, texts: Sequence[str], *, remember: Sequence[bool] | None = None) -> list[Classification]:
        """Classify ``texts`` in order. ``remember[i]`` false: the i-th text must leave no trace in this
        pipeline, so the score cache is neither read nor written for it, nor the rules' memo of words
        (a caller's "do not store")."""
        if remember is not None and len(remember) != len(texts):
            raise ValueError(f"remember has {len(remember)} flags for {len(texts)} texts")
        normalized = [normalize(self._validate(t)) for t in texts]
        detected = [self.languages.detect(n.text) for n in normalized] if self.languages else [None] * len(normalized)
        foreign = [self._foreign(lang) for lang in detected]
        model_rows = [i for i, why in enumerate(foreign) if why is None]
        keep = [True] * len(texts) if remember is None else [bool(r) for r in remember]
        model_scores, fallback = self._run_model([normalized[i] for i in model_rows], [keep[i] for i in model_rows])
        by_row = dict(zip(model_rows, model_scores, strict=True)) if model_scores is not None else {}
        results = []
        for index, norm in enumerate(normalized):
            rules_out = self.rules.analyze(norm.text, Budget(self.rules_budget), remember=keep[index])
            lang = detected[index]
            why_rules = foreign[index] if foreign[index] and self.classifier is not None else fallback
            result = self._decide(norm, rules_out, by_row.get(index), why_rules)
            if lang is not None:
                result.language = lang.code if lang.reliable else None
                result.steps.insert(1, "language")
            why_foreign = foreign[index]
            if why_foreign:
                result.needs_review = True
                result.review_reasons.insert(0, why_foreign)
            results.append(result)
        return results

    def _foreign(self, lang: Language | None) -> str | None:
        """Why the model (and the English word lists of the rules) must not label a comment in this
        language; None when they may."""
        trained = self.supported_languages
        if lang is None or not lang.reliable or lang.code in trained:
            return None
        reads = f"language: the comment reads as {lang.code!r} (p={lang.score:.2f})"
        if self.classifier is None:
            return f"{reads}; the rules' word lists are English, so a moderator should read it"
        return f"{reads} and model {self.classifier.version} was trained on {', '.join(trained)} only; answering from rules"

    # -- steps ---------------------------------------------------------------
    @staticmethod
    def _validate(text: str) -> str:
        if not isinstance(text, str):
            raise InvalidTextError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise InvalidTextError("text is empty or only whitespace; send the comment's words")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidTextError(f"text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
        return text

    def _run_model(self, normalized: list[NormalizedText],
                   kept: list[bool]) -> tuple[list[dict[str, float]] | None, str | None]:
        if self.classifier is None:
            return None, self.missing_model_reason
        if not normalized:
            return [], None
        texts = [n.text for n in normalized]
        # Only texts that may be remembered touch the cache: a private one is not looked up (which would
        # refresh a twin's place in it) nor added, unless the same text also came in without the request.
        cacheable = {t for t, keep in zip(texts, kept, strict=True) if keep} if self.cache_size else set()
        known: dict[str, dict[str, float]] = {}
        if cacheable:
            with self._cache_lock:
                for text in texts:
                    if text in cacheable and text in self._cache:
                        self._cache.move_to_end(text)
                        known[text] = self._cache[text]
        todo = list(dict.fromkeys(t for t in texts if t not in known))  # each new text once, in order
        if todo:
            try:
                scores = self.classifier.predict_proba(todo)
            except Exception as exc:  # noqa: BLE001 - any model failure must degrade to the rules, visibly
                logger.warning("learnt model %s failed on a batch of %d; answering from rules: %s",
                               self.classifier.version, len(todo), type(exc).__name__)
                return None, f"model {self.classifier.version} failed: {type(exc).__name__}"
            fresh = dict(zip(todo, scores, strict=True))
            known.update(fresh)
            if cacheable:
                with self._cache_lock:
                    self._cache.update((t, scores) for t, scores in fresh.items() if t in cacheable)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return [known[t] for t in texts], None

    def _decide(self, norm: NormalizedText, rules_out: RulesOutput, model_scores: dict[str, float] | None,
                fallback: str | None) -> Classification:
        steps = ["normalize"]
        evidence: list[Evidence] = []
        source: Source
        scores: dict[str, float]
        if model_scores is not None and self.classifier is not None:
            steps += ["model", "rules", "merge"]
            source = "model"
            thresholds = {**self.policy.thresholds, **self.classifier.thresholds}
            bands = {**self.policy.review_bands, **self.classifier.review_bands, **self.policy.band_overrides}
            scores = {t: float(model_scores.get(t, rules_out.scores[t])) for t in TARGETS}
            # Flags the model does not predict, and high-precision rule hits, come from the rules.
            for target in TARGETS:
                rule_score = rules_out.scores[target]
                if target not in model_scores or (target in PRECISE_TARGETS and rule_score >= PRECISE_SCORE):
                    scores[target] = max(scores[target], rule_score)
            model_source = f"model:{self.classifier.version}"
        else:
            steps += ["rules"]
            source = "rules"
            thresholds, bands = self.policy.thresholds, {**self.policy.review_bands, **self.policy.band_overrides}
            scores = dict(rules_out.scores)
            model_source = ""
        steps += ["thresholds", "review"]
        if rules_out.cut_short:
            steps[steps.index("rules")] = "rules (cut short)"

        # A high-precision rule hit decides its label whatever the model's threshold (the guide's hard rules).
        forced = {t for t in PRECISE_TARGETS if rules_out.scores[t] >= PRECISE_SCORE}
        fired = {t for t in TARGETS if scores[t] >= thresholds[t]} | forced
        reasons: list[str] = [rules_out.cut_short] if rules_out.cut_short else []
        for target in TARGETS:
            if target in forced:
                continue
            low, high = bands[target]
            if low <= scores[target] < high:
                reasons.append(f"{target}: score {scores[target]:.2f} is in the uncertain band [{low:.2f}, {high:.2f})")

        for target in TARGETS:
            if target not in fired and not any(r.startswith(target + ":") for r in reasons):
                continue
            model_score = (model_scores or {}).get(target) if model_source else None
            if model_score is not None:
                evidence.append(Evidence(target, model_source, round(float(model_score), 4),
                                         detail=f"threshold {thresholds[target]:.2f}"))
            for hit in rules_out.hits:
                if hit.target == target and hit.score > 0:
                    evidence.append(self._evidence(norm, hit))

        redacted = self._redact(norm, [h for h in rules_out.hits if h.entity and h.score >= 0.5])
        steps.append("redact")
        return Classification(
            labels=[label for label in LABELS if label in fired],
            scores={label: round(scores[label], 4) for label in LABELS},
            flags={flag: flag in fired for flag in FLAGS},
            flag_scores={flag: round(scores[flag], 4) for flag in FLAGS},
            needs_review=bool(reasons),
            review_reasons=reasons,
            source=source,
            model_version=self.model_version if source == "model" else None,
            evidence=evidence,
            redacted_text=redacted,
            fallback_reason=fallback if source == "rules" else None,
            steps=steps,
        )

    @staticmethod
    def _evidence(norm: NormalizedText, hit: Hit) -> Evidence:
        start, end = norm.to_original(hit.start, hit.end)
        return Evidence(hit.target, f"rules:{hit.rule}", hit.score, start, end, hit.detail, hit.entity, hit.category)

    @staticmethod
    def _redact(norm: NormalizedText, hits: list[Hit]) -> str:
        text = norm.original
        if not hits:
            return text
        spans = sorted((*norm.to_original(h.start, h.end), h.entity or "PII") for h in hits)
        merged: list[tuple[int, int, str]] = []
        for start, end, entity in spans:
            if merged and start < merged[-1][1]:
                first, last, kind = merged[-1]
                merged[-1] = (first, max(last, end), kind)
            else:
                merged.append((start, end, entity))
        out, pos = [], 0
        for start, end, entity in merged:
            out.append(text[pos:start])
            out.append(f"[{entity}]")
            pos = end
        out.append(text[pos:])
        return "".join(out)
