"""The one path of a comment: submission checks shared by every door, the policy beside the model, typed storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from model.loader import build_pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.shipped import POLICY_FILE, STAFF_ROSTER
from service.comments import Submission, SubmissionError, classify, parse_line, store, submission
from service.db.migrate import upgrade
from service.db.models import AuthorOffence, ClassificationRecord, ReviewItem
from service.db.offences import history_scope
from service.db.session import make_engine, make_session_factory


@pytest.fixture(scope="module")
def rules_only():  # type: ignore[no-untyped-def]
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    return pipeline, PolicyEngine(load_policy(POLICY_FILE))


@pytest.fixture
def sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.mark.parametrize(("line", "says"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({"text": "   "}), "only whitespace"),
    (json.dumps({"text": "x" * 10_001}), "at most 10000 characters"),
    (json.dumps({"text": "hi", "channel": "myspace"}), "channel"),
    (json.dumps({"text": "hi", "posted_at": "2026-11-28T10:00:00"}), "time zone"),
    (json.dumps({"id": "c-9"}), "text: Field required"),
])
def test_a_bad_line_is_refused_with_what_to_fix(line: str, says: str) -> None:
    with pytest.raises(SubmissionError, match=says):
        parse_line(line)


def test_a_file_line_may_carry_other_fields_but_the_http_schema_refuses_them() -> None:
    from pydantic import ValidationError

    from api.schemas import ClassifyRequest

    item = parse_line(json.dumps({"text": "Lift broken again", "labels": ["complaint"], "id": "a"}))
    assert item == Submission(text="Lift broken again", id="a")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ClassifyRequest.model_validate({"text": "Lift broken again", "labels": ["complaint"]})
    with pytest.raises(SubmissionError, match="channel"):
        submission(text="hi", channel="myspace")


def test_classify_decides_each_comment_in_order(rules_only) -> None:  # type: ignore[no-untyped-def]
    pipeline, policy = rules_only
    items = [Submission(text="Huge thanks to the repairs team", id="a"), Submission(text="call me on 07700 900123", id="b")]
    decided = classify(pipeline, policy, items, secret=b"k")
    assert [d.submission.id for d in decided] == ["a", "b"]
    assert "pii" in decided[1].result.labels and "delete_post" in [a.action for a in decided[1].decision.actions]
    public = decided[1].public()
    assert public["id"] == "b" and public["priority"] == decided[1].decision.priority and "actions" in public
    assert decided[0].author_hash is None  # no author given: nobody to remember


def test_store_writes_the_record_the_offence_and_the_review_item(rules_only, sessions) -> None:  # type: ignore[no-untyped-def]
    pipeline, policy = rules_only
    abusive = Submission(text="you absolute w@nker", author_id="u1", channel="facebook", id="x",
                         posted_at=datetime(2026, 11, 27, 10, tzinfo=UTC))
    decided = classify(pipeline, policy, [abusive], secret=b"k")
    with sessions() as session:
        (record_id,) = store(session, decided)
        session.commit()
    with sessions() as session:
        record = session.get(ClassificationRecord, record_id)
        assert record is not None and record.external_id == "x" and record.author_hash == decided[0].author_hash
        assert record.policy is not None and record.priority == decided[0].decision.priority
        offences = list(session.scalars(select(AuthorOffence)))
        assert [o.reason for o in offences] == decided[0].decision.removal_reasons and offences[0].classification_id == record_id
        queued = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == record_id))
        assert (queued is not None) == decided[0].result.needs_review
        assert (record.text is not None) == decided[0].result.needs_review  # the text is kept only for a moderator


def test_suggested_items_are_always_queued_with_their_text(rules_only, sessions) -> None:  # type: ignore[no-untyped-def]
    pipeline, policy = rules_only
    decided = classify(pipeline, policy, [Submission(text="Huge thanks to the repairs team")])
    assert not decided[0].result.needs_review
    with sessions() as session:
        (record_id,) = store(session, decided, origin="suggested")
        session.commit()
        item = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == record_id))
        record = session.get(ClassificationRecord, record_id)
    assert item is not None and item.origin == "suggested" and item.reasons
    assert record is not None and record.text == "Huge thanks to the repairs team" and record.needs_review


def test_the_policy_reads_the_authors_history_from_the_database(rules_only, sessions) -> None:  # type: ignore[no-untyped-def]
    pipeline, policy = rules_only
    limit = policy.policy.repeat_offenders.removals
    now = datetime.now(UTC)
    post = [Submission(text="you absolute w@nker", author_id="u1", channel="facebook",
                       posted_at=now - timedelta(minutes=5))]
    blocked = []
    for _ in range(limit):
        decided = classify(pipeline, policy, post, secret=b"k", history=history_scope(sessions))
        blocked.append("block_author" in [a.action for a in decided[0].decision.actions])
        with sessions() as session:
            store(session, decided)
            session.commit()
    # Blocked only once the stored removals (this one included) reach the policy's limit.
    assert blocked == [False] * (limit - 1) + [True]
    other = classify(pipeline, policy, [post[0].model_copy(update={"author_id": "u2"})], secret=b"k",
                     history=history_scope(sessions))
    assert "block_author" not in [a.action for a in other[0].decision.actions]
