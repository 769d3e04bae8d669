"""The right to erasure: one author's texts, records, offences, review items and notes go, nobody else's; audited
without the id; `sift authors erase` prints the counts; SQLite's files keep no copy of the text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.main import app
from model.loader import build_pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.shipped import POLICY_FILE, STAFF_ROSTER
from service.comments import Submission, author_hash, classify, store
from service.db.migrate import upgrade
from service.db.models import AuditEntry, AuthorOffence, ClassificationRecord, ReviewItem, UnknownPayload
from service.db.offences import history_scope
from service.db.review import claim_next, decide
from service.db.session import make_engine, make_session_factory
from service.erasure import ErasureError, erase_author, subject
from tests.api.conftest import database_url, postgres_url  # noqa: F401 - the fixtures, on SQLite and PostgreSQL

SECRET = b"erasure-test-secret"
ABUSE = "you absolute w@nker, get lost"  # removed under the policy: counts against its author
UNSURE = "those clowns again, the gutters are still blocked"  # goes to review with its text
OTHERS = "that clown at the office never rings back"


@pytest.fixture(scope="module")
def rules_only() -> tuple[object, PolicyEngine]:
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    return pipeline, PolicyEngine(load_policy(POLICY_FILE))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:  # noqa: F811
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _store(sessions: sessionmaker[Session], rules_only, submissions: list[Submission], origin: str = "uncertain") -> None:  # type: ignore[no-untyped-def]
    pipeline, policy = rules_only
    with sessions() as session:
        decided = classify(pipeline, policy, submissions, secret=SECRET, history=history_scope(sessions))
        store(session, decided, origin=origin)  # type: ignore[arg-type]
        session.commit()


def _counts(session: Session, hashed: str | None) -> dict[str, int]:
    records = select(ClassificationRecord.id).where(ClassificationRecord.author_hash == hashed)
    return {"records": session.scalar(select(func.count()).select_from(ClassificationRecord)
                                      .where(ClassificationRecord.author_hash == hashed)) or 0,
            "offences": session.scalar(select(func.count()).select_from(AuthorOffence).where(AuthorOffence.author_hash == hashed)) or 0,
            "items": session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.classification_id.in_(records))) or 0}


@pytest.fixture
def populated(sessions: sessionmaker[Session], rules_only) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    target = [Submission(text=t, channel="twitter", author_id="tw-4242") for t in (ABUSE, UNSURE, ABUSE + " again")]
    bystanders = [Submission(text=OTHERS, channel="twitter", author_id="tw-7"),
                  Submission(text=ABUSE, channel="facebook", author_id="tw-4242"),  # the same id on another channel: another person
                  Submission(text=UNSURE)]  # no author at all
    _store(sessions, rules_only, target + bystanders)
    _store(sessions, rules_only, [Submission(text="suggested one from the same author", channel="twitter", author_id="tw-4242")],
           origin="suggested")
    with sessions() as session:  # a moderator decides each open item, with a note that quotes the comment
        while (item := claim_next(session, "maria")) is not None:
            decide(session, item.id, "maria", labels=["negative"], flags=[], action=None, note=f"said: {UNSURE[:20]}")
    return sessions


def test_erasure_removes_the_authors_records_texts_offences_items_and_notes_and_nothing_else(populated) -> None:  # type: ignore[no-untyped-def]
    target, other = author_hash(SECRET, "twitter", "tw-4242"), author_hash(SECRET, "facebook", "tw-4242")
    with populated() as session:
        before, others_before = _counts(session, target), _counts(session, other)
        total_before = session.scalar(select(func.count()).select_from(ClassificationRecord))
    assert before["records"] == 4 and before["offences"] >= 2 and before["items"] >= 2  # the test stores what it erases
    with populated() as session:
        done = erase_author(session, SECRET, channel="twitter", author_id="tw-4242", actor="dpo:sam")
    assert (done.classifications, done.offences, done.review_items) == (before["records"], before["offences"], before["items"])
    assert done.texts >= 2 and done.audit_notes == done.review_items
    with populated() as session:
        assert _counts(session, target) == {"records": 0, "offences": 0, "items": 0}
        assert _counts(session, other) == others_before  # the same id on another channel is someone else
        assert session.scalar(select(func.count()).select_from(ClassificationRecord)) == total_before - before["records"]
        assert not list(session.scalars(select(ClassificationRecord).where(ClassificationRecord.text.like("%w@nker, get lost again%"))))
        entry = session.get(AuditEntry, done.audit_id)
        assert entry is not None and entry.event == "erasure" and entry.actor == "dpo:sam"
        assert entry.decided == {"subject": subject(target or ""), "classifications": 4, "texts": done.texts,
                                 "review_items": done.review_items, "offences": done.offences, "audit_notes": done.audit_notes,
                                 "kept_payloads": 0, "channel": "twitter"}
        audit = json.dumps([[e.actor, e.event, e.note, e.model_said, e.decided] for e in session.scalars(select(AuditEntry))])
        assert "tw-4242" not in audit and target not in audit  # neither the id nor the hash it was stored under
        assert UNSURE[:20] in audit  # the bystanders' notes are still there (the erased ones are not counted in it)


def test_kept_unreadable_payloads_naming_the_author_go_and_the_others_stay(sessions: sessionmaker[Session]) -> None:
    bodies = {"names": b'{"entry": [{"from": {"id": "tw-4242"}, "field": "ratings"}]}',
              "number": b'{"for_user_id": 1, "user": {"id": 4242}}',
              "other": b'{"entry": [{"from": {"id": "tw-42424"}}], "n": 14242}'}
    with sessions() as session:
        for name, body in bodies.items():
            session.add(UnknownPayload(id=name, platform="meta", reason="test", body=body,
                                       body_sha256=hashlib.sha256(body).hexdigest()))
        session.commit()
    with sessions() as session:
        assert erase_author(session, SECRET, channel="facebook", author_id="tw-4242", actor="dpo:sam",
                            dry_run=True).kept_payloads == 1
    with sessions() as session:
        done = erase_author(session, SECRET, channel="twitter", author_id="4242", actor="dpo:sam")
        assert done.kept_payloads == 1 and done.found
        assert set(session.scalars(select(UnknownPayload.id))) == {"names", "other"}


def test_a_dry_run_counts_and_changes_nothing(populated) -> None:  # type: ignore[no-untyped-def]
    target = author_hash(SECRET, "twitter", "tw-4242")
    with populated() as session:
        before = _counts(session, target)
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
        done = erase_author(session, SECRET, channel="twitter", author_id="tw-4242", actor="dpo:sam", dry_run=True)
    assert done.dry_run and done.audit_id is None and done.classifications == before["records"] == 4
    assert done.summary().startswith("would remove 4 classifications")
    with populated() as session:
        assert _counts(session, target) == before
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries


def test_an_unknown_author_is_erased_as_nothing_and_still_audited(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        done = erase_author(session, SECRET, channel="other", author_id="nobody", actor="dpo:sam")
        assert not done.found and done.counts() == dict.fromkeys(done.counts(), 0)
        assert session.get(AuditEntry, done.audit_id) is not None


@pytest.mark.parametrize(("fields", "says"), [
    ({"channel": "myspace", "author_id": "1", "actor": "a"}, "unknown channel 'myspace'; channels are"),
    ({"channel": "twitter", "author_id": "  ", "actor": "a"}, "the author id is empty"),
    ({"channel": "twitter", "author_id": "1", "actor": " "}, "who asked for the erasure"),
])
def test_a_bad_request_says_what_to_fix(sessions: sessionmaker[Session], fields: dict[str, str], says: str) -> None:
    with sessions() as session, pytest.raises(ErasureError, match=says):
        erase_author(session, SECRET, **fields)


def test_on_sqlite_the_text_is_gone_from_the_database_files_too(tmp_path: Path, rules_only) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    # As on a SQLite built without SQLITE_SECURE_DELETE (Debian's has it on): deleted rows stay in the file.
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA secure_delete=OFF"))
    sessions = make_session_factory(engine)
    secret_text = "my neighbour Zebulon Quixote keeps parking across the gutters, clowns"
    _store(sessions, rules_only, [Submission(text=secret_text, channel="youtube", author_id="yt-1")], origin="suggested")
    files = lambda: b"".join(p.read_bytes() for p in tmp_path.glob("sift.db*"))  # noqa: E731 - the database, WAL and shm
    assert b"Zebulon Quixote" in files()
    with sessions() as session:
        assert erase_author(session, SECRET, channel="youtube", author_id="yt-1", actor="dpo").classifications == 1
    engine.dispose()
    assert b"Zebulon Quixote" not in files()


def test_sift_authors_erase_prints_the_counts_and_exits_2_on_a_bad_channel(tmp_path: Path, monkeypatch, rules_only) -> None:  # type: ignore[no-untyped-def]
    for key, value in {"SIFT_DATA_DIR": str(tmp_path), "SIFT_MODEL_DIR": str(tmp_path / "none"), "SIFT_SECRET_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    pipeline, policy = rules_only
    with make_session_factory(engine)() as session:
        store(session, classify(pipeline, policy, [Submission(text=UNSURE, channel="facebook", author_id="fb-9")], secret=b"t"))
        session.commit()
    engine.dispose()
    runner = CliRunner()
    dry = runner.invoke(app, ["authors", "erase", "--channel", "facebook", "--author-id", "fb-9", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove 1 classifications (1 with their text), 1 review items" in dry.output and "audit entry" not in dry.output
    done = runner.invoke(app, ["authors", "erase", "--channel", "facebook", "--author-id", "fb-9", "--actor", "dpo:sam"])
    assert done.exit_code == 0, done.output
    assert "removed 1 classifications (1 with their text), 1 review items" in done.output and "audit entry" in done.output
    assert "fb-9" not in done.output
    again = runner.invoke(app, ["authors", "erase", "--channel", "facebook", "--author-id", "fb-9"])
    assert again.exit_code == 0 and "nothing is stored for this author" in again.output
    bad = runner.invoke(app, ["authors", "erase", "--channel", "myspace", "--author-id", "fb-9"])
    assert bad.exit_code == 2 and "unknown channel 'myspace'" in bad.output


def test_comments_waiting_in_the_outbox_are_not_brought_back_after_their_author_is_erased(
        sessions: sessionmaker[Session], rules_only, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """While the database was down, an author's comments waited in the service's outbox; the author was
    erased meanwhile. Replaying the outbox must not store them again; other authors' comments are stored."""
    from service.comments import rows
    from service.outbox import Outbox

    pipeline, policy = rules_only
    waiting = classify(pipeline, policy, [Submission(text=ABUSE, channel="facebook", author_id="fb-erased"),
                                          Submission(text=UNSURE, channel="facebook", author_id="fb-kept")], secret=SECRET)
    outbox = Outbox(tmp_path / "outbox")
    outbox.append(rows(waiting))
    with sessions() as session:
        erase_author(session, SECRET, channel="facebook", author_id="fb-erased", actor="dpo")
    assert outbox.replay(sessions) == 2  # both lines were consumed
    with sessions() as session:
        assert _counts(session, author_hash(SECRET, "facebook", "fb-erased"))["records"] == 0
        assert _counts(session, author_hash(SECRET, "facebook", "fb-kept"))["records"] == 1


@pytest.mark.parametrize("how", ["dry run", "error"])
def test_the_pooled_connection_goes_back_without_secure_delete_after_a_dry_run_or_an_error(
        tmp_path: Path, rules_only, how: str) -> None:  # type: ignore[no-untyped-def]
    """Before: a dry run, or an erasure that failed, left ``PRAGMA secure_delete=ON`` on the pooled connection,
    so every later delete through it (any request's) paid for overwriting pages."""
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA secure_delete=OFF"))
    sessions = make_session_factory(engine)
    _store(sessions, rules_only, [Submission(text=ABUSE, channel="youtube", author_id="yt-1")])
    with sessions() as session:
        connection = session.connection().connection.dbapi_connection
    if how == "error":
        def fail(_conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
            if statement.startswith("DELETE FROM classifications"):
                raise RuntimeError("the disk went away")
        event.listen(engine, "before_cursor_execute", fail)
    with sessions() as session:
        if how == "error":
            with pytest.raises(RuntimeError, match="the disk went away"):
                erase_author(session, SECRET, channel="youtube", author_id="yt-1", actor="dpo")
        else:
            assert erase_author(session, SECRET, channel="youtube", author_id="yt-1", actor="dpo", dry_run=True).dry_run
        assert session.connection().connection.dbapi_connection is connection  # the pooled one, reused
        assert session.scalar(text("PRAGMA secure_delete")) == 0
    if how == "error":
        event.remove(engine, "before_cursor_execute", fail)
    with sessions() as session:
        assert _counts(session, author_hash(SECRET, "youtube", "yt-1"))["records"] == 1  # nothing was erased
    engine.dispose()
