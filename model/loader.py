"""Build a ready pipeline from configuration: rules always, a learnt model when one loads.

A missing or broken model is not an error here: the pipeline answers from the rules,
says so in every result (``source: "rules"``, ``fallback_reason``) and the component
status says why, for ``/readyz``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.classifier import MODEL_META_FILE, Classifier, ClassifierError
from model.pipeline import RULES_BUDGET_SECONDS, DecisionPolicy, Pipeline
from model.rules.engine import RulesEngine
from model.rules.files import DEFAULT_RULES_DIR

logger = logging.getLogger(__name__)



def _sift_transformer(path: Path, threads: int | None = None) -> Classifier:
    from model.transformer import OnnxClassifier  # onnxruntime is imported only when a model is loaded

    return OnnxClassifier.from_pretrained(path, threads=threads)


# Learnt classifiers by the ``kind`` written in their artifact's ``sift_model.json``; the second
# argument is how many threads the model may use (None: as many as there are cores, up to two).
CLASSIFIER_KINDS: dict[str, Callable[[Path, int | None], Classifier]] = {"sift-transformer": _sift_transformer}


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    ok: bool
    detail: str


def load_classifier(model_dir: Path | None, threads: int | None = None) -> tuple[Classifier | None, ComponentStatus]:
    """Load the model in ``model_dir``; never raises, reports what went wrong instead."""
    if model_dir is None:
        return None, ComponentStatus(False, "no model directory is configured; answering from rules")
    meta = model_dir / MODEL_META_FILE
    if not meta.is_file():
        return None, ComponentStatus(False, f"no model at {model_dir}; answering from rules")
    try:
        kind = json.loads(meta.read_text(encoding="utf-8"))["kind"]
        factory = CLASSIFIER_KINDS[kind]
    except (KeyError, ValueError) as exc:
        known = ", ".join(sorted(CLASSIFIER_KINDS)) or "none"
        return None, ComponentStatus(False, f"model at {model_dir} has an unknown or missing kind ({exc}); known kinds: {known}")
    try:
        classifier = factory(model_dir, threads)
    except (ClassifierError, OSError, ValueError) as exc:
        logger.error("model at %s failed to load: %s", model_dir, exc)
        return None, ComponentStatus(False, f"model at {model_dir} failed to load: {exc}; answering from rules")
    return classifier, ComponentStatus(True, f"model {classifier.version} loaded from {model_dir}")


def build_pipeline(*, rules_dir: Path = DEFAULT_RULES_DIR, staff_roster: Path | None = None, org_file: Path | None = None,
                   model_dir: Path | None = None, policy: DecisionPolicy | None = None,
                   cache_size: int = 0, threads: int | None = None,
                   detect_language: bool = True,
                   rules_budget: float | None = RULES_BUDGET_SECONDS) -> tuple[Pipeline, dict[str, ComponentStatus]]:
    """Rules (errors in rule files are raised: they are configuration to fix) plus the model; ``cache_size``
    texts' model scores are remembered (0: none). Each comment's language is detected (``model.language``).
    ``rules_budget`` is the seconds one comment's rules may take (None: no limit; offline evaluation uses None
    so its figures never depend on how busy the machine is)."""
    from model.language import LanguageDetector

    rules = RulesEngine.from_dir(rules_dir, staff_roster=staff_roster, org_file=org_file)
    roster_note = f"staff roster {staff_roster}" if staff_roster else "no staff roster configured (staff_named never fires)"
    classifier, model_status = load_classifier(model_dir, threads)
    pipeline = Pipeline(rules, classifier, policy, missing_model_reason=model_status.detail, cache_size=cache_size,
                        languages=LanguageDetector() if detect_language else None, rules_budget=rules_budget)
    return pipeline, {"rules": ComponentStatus(True, f"rules from {rules_dir}; {roster_note}"), "model": model_status}
