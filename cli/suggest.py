"""``sift review suggest``: the comments most worth a moderator's time.

Most uncertain first (scores nearest their thresholds), then most diverse among those
(greedy farthest-point selection over TF-IDF vectors), so moderators don't review ten
copies of the same thing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from service.db.models import ClassificationRecord
from service.db.review import enqueue
from model.pipeline import Pipeline


def uncertainty(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    """1 at a threshold, 0 at the far end of the scale, for the least certain label."""
    best = 0.0
    for label, score in scores.items():
        t = thresholds.get(label, 0.5)
        span = t if score < t else 1 - t
        best = max(best, 1 - abs(score - t) / max(span, 1e-6))
    return best


def suggest(session: Session, pipeline: Pipeline, path: Path, n: int, secret: bytes) -> list[tuple[float, str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip():
                texts.append((item["text"], item.get("channel")))
    results = pipeline.classify_many([t for t, _ in texts]) if texts else []
    thresholds = {**pipeline.policy.thresholds, **(pipeline.classifier.thresholds if pipeline.classifier else {})}
    scored = sorted(((uncertainty({**r.scores, **r.flag_scores}, thresholds), i) for i, r in enumerate(results)), reverse=True)
    pool = [i for _, i in scored[: n * 5]]
    if not pool:
        return []
    vectors = TfidfVectorizer(min_df=1).fit_transform([texts[i][0] for i in pool]).toarray()
    chosen = [0]
    distance = 1 - vectors @ vectors[0]
    while len(chosen) < min(n, len(pool)):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, 1 - vectors @ vectors[nxt])
    out = []
    for k in chosen:
        i = pool[k]
        text, channel = texts[i]
        result = results[i]
        record = ClassificationRecord(
            channel=channel, labels=result.labels, scores=result.scores,
            flags={**result.flags, **{f"{k}_score": v for k, v in result.flag_scores.items()}}, source=result.source,
            model_version=result.model_version, needs_review=True,
            review_reasons=result.review_reasons or ["suggested: among the most uncertain and most diverse"],
            evidence=[asdict(e) for e in result.evidence], text_sha256="", text=text, redacted_text=result.redacted_text)
        import hashlib

        record.text_sha256 = hashlib.sha256(text.encode()).hexdigest()
        session.add(record)
        session.flush()
        enqueue(session, record, origin="suggested")
        out.append((scored[[j for _, j in scored].index(i)][0], text))
    session.commit()
    return out
