"""``sift review suggest`` queues each comment at most once, even when the file is mostly copies.

The farthest-point selection picked an already chosen comment again once every remaining distance was 0
(copies of a spam wave): the comment was queued twice under two record ids (a moderator would see it twice),
and, now that a decision's record id is fixed when it is made, storing it twice was refused outright."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.loader import build_pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.shipped import POLICY_FILE, STAFF_ROSTER
from service.db.migrate import upgrade
from service.db.models import ClassificationRecord, ReviewItem
from service.db.session import make_engine, make_session_factory
from service.suggest import suggest


def test_copies_are_queued_once_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    comments = tmp_path / "new.jsonl"
    comments.write_text('{"text": "you absolute glimbo"}\n' * 6 + '{"text": "when is the rent due"}\n', encoding="utf-8")
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    with sessions() as session:
        chosen = suggest(session, pipeline, PolicyEngine(load_policy(POLICY_FILE)), comments, 5, b"secret")
    assert len(chosen) == 5
    with Session(sessions.kw["bind"]) as session:
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 5
        assert session.scalar(select(func.count(func.distinct(ReviewItem.classification_id)))) == 5
        assert session.scalar(select(func.count()).select_from(ClassificationRecord)) == 5
