"""The comments most worth a moderator's time (``sift review suggest``).

Most uncertain first (scores nearest their thresholds), then most diverse among those
(greedy farthest-point selection over TF-IDF vectors), so moderators don't review ten
copies of the same thing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from model.pipeline import Pipeline
from model.policy.engine import PolicyEngine
from service.comments import SubmissionError, classify, parse_line, store
from service.db.offences import history_scope


def uncertainty(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    """1 at a threshold, 0 at the far end of the scale, for the least certain label."""
    best = 0.0
    for label, score in scores.items():
        t = thresholds.get(label, 0.5)
        span = t if score < t else 1 - t
        best = max(best, 1 - abs(score - t) / max(span, 1e-6))
    return best


def suggest(session: Session, pipeline: Pipeline, policy: PolicyEngine, path: Path, n: int,
            secret: bytes) -> list[tuple[float, str]]:
    """Classify and decide every comment in ``path`` (as the service does), queue the ``n`` most worth a
    moderator's time, and commit. Lines that are not valid comments are skipped (they are not queued)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    submissions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                submissions.append(parse_line(line))
            except SubmissionError:
                continue
    decided = classify(pipeline, policy, submissions, secret=secret, history=history_scope(_bound(session)))
    thresholds = {**pipeline.policy.thresholds, **(pipeline.classifier.thresholds if pipeline.classifier else {})}
    scored = sorted(((uncertainty({**d.result.scores, **d.result.flag_scores}, thresholds), i) for i, d in enumerate(decided)),
                    reverse=True)
    pool = [i for _, i in scored[: n * 5]]
    if not pool:
        return []
    vectors = TfidfVectorizer(min_df=1).fit_transform([submissions[i].text for i in pool]).toarray()
    chosen = [0]
    distance = 1 - vectors @ vectors[0]
    distance[0] = -np.inf  # a chosen comment is never chosen again, even when the rest are all copies of it
    while len(chosen) < min(n, len(pool)):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, 1 - vectors @ vectors[nxt])
        distance[nxt] = -np.inf
    picked = [pool[k] for k in chosen]
    store(session, [decided[i] for i in picked], origin="suggested")
    session.commit()
    score_of = {i: score for score, i in scored}
    return [(score_of[i], submissions[i].text) for i in picked]


def _bound(session: Session) -> sessionmaker[Session]:
    """A factory for sessions on the same database as ``session`` (for reading authors' history)."""
    return sessionmaker(session.get_bind())
