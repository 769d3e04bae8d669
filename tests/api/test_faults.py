"""Faults that degrade, never lose: the database down, locked, read-only or damaged, and SIGTERM under load.

The in-process tests use the test client; those that need a real process (a signal, a file swapped under
a running server, SIGBUS) run ``sift serve`` as a subprocess through the scenarios of ``bench/faults.py``,
which prints the same figures as the fault table.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, exc, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.storage import DurableStore
from api.writer import GroupWriter
from bench import faults
from service.comments import Rows, Submission, classify, rows
from service.db.migrate import upgrade
from service.db.models import ClassificationRecord
from service.db.repository import create_api_key
from service.db.session import make_engine, make_session_factory
from service.outbox import Outbox
from tests.api.conftest import make_settings
from tests.logscan import scan_output

COMPLAINT = {"text": "Waited in all day, nobody turned up. Third time now.", "channel": "facebook"}


def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll ``check`` until it holds (a bound for a background task, not a timing asserted)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _count(client: TestClient) -> int:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(ClassificationRecord)) or 0)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client


@pytest.fixture
def db_down(client: TestClient) -> Iterator[Callable[[bool], None]]:
    """Makes every statement fail as SQLite does when its file cannot be opened (True), or work again (False)."""
    down = {"on": False}

    def fail(*_args: object) -> None:
        if down["on"]:
            raise exc.OperationalError("SELECT", None, sqlite3.OperationalError("unable to open database file"))

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", fail)
    yield lambda on: down.__setitem__("on", on)
    event.remove(engine, "before_cursor_execute", fail)


def test_when_the_database_is_locked_classify_answers_pending_and_stores_it_when_the_lock_goes(
        client: TestClient, tmp_path: Path) -> None:
    locker = sqlite3.connect(tmp_path / "sift.db", timeout=5, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds SQLite's lock (before: a 30 s wait, then a bare 500)
    try:
        one = client.post("/classify", json=COMPLAINT)
        batch = client.post("/classify/batch", json={"items": [COMPLAINT, {"text": "Thanks, the lift works again"}]})
        ready = client.get("/readyz").json()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert one.status_code == 200 and one.json()["stored"] == "pending"
    assert batch.status_code == 200 and [i["stored"] for i in batch.json()["items"]] == ["pending", "pending"]
    assert ready["status"] == "degraded" and ready["outbox_pending"] == 3
    assert "locked" in ready["components"]["database"]["detail"]
    assert _eventually(lambda: _count(client) == 3)  # written by the background task once the lock is gone
    ids = {one.json()["record_id"], *(i["record_id"] for i in batch.json()["items"])}
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        assert set(session.scalars(select(ClassificationRecord.id))) == ids  # the ids it answered with
    assert client.get("/readyz").json()["components"]["database"]["ok"]
    assert client.post("/classify", json=COMPLAINT).json()["stored"] == "committed"


def test_when_the_database_cannot_be_opened_classify_still_answers_and_the_review_api_says_503(
        client: TestClient, db_down: Callable[[bool], None], tmp_path: Path) -> None:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        _, review_key = create_api_key(session, "tool", ["review"])
    db_down(True)
    answer = client.post("/classify", json={**COMPLAINT, "author_id": "u-1"})
    queue = client.get("/review/items", headers={"X-API-Key": review_key})
    db_down(False)
    assert answer.status_code == 200 and answer.json()["stored"] == "pending"
    assert queue.status_code == 503 and queue.headers["retry-after"].isdigit()  # before: a text/plain 500
    assert queue.json()["error"] and queue.json()["details"][0]["field"] == "database"
    assert "sift.db" not in queue.text and "SELECT" not in queue.text
    assert _eventually(lambda: _count(client) == 1)


def test_the_outbox_is_private_and_its_replay_writes_each_comment_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    app = create_app(make_settings(tmp_path))
    with TestClient(app):
        decided = classify(app.state.pipeline, app.state.policy, [Submission(text="Call me on 07700 900123")])
    outbox = Outbox(tmp_path / "box")
    outbox.append(rows(decided))
    outbox.append(rows(decided))  # the same comment twice: a replay cut short and begun again
    assert stat.S_IMODE(os.stat(outbox.pending).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(outbox.folder).st_mode) == 0o700
    assert outbox.depth == 2 and Outbox(tmp_path / "box").depth == 2  # durable: a new process sees both
    assert outbox.replay(sessions) == 2
    outbox.append(rows(decided))
    outbox.replay(sessions)
    with sessions() as session:
        assert session.scalars(select(ClassificationRecord.id)).all() == [decided[0].record_id]
    assert outbox.depth == 0 and not outbox.pending.exists()


def test_a_line_cut_short_by_a_crash_is_set_aside_not_dropped_and_the_rest_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    app = create_app(make_settings(tmp_path))
    with TestClient(app):
        decided = classify(app.state.pipeline, app.state.policy, [Submission(text="The boiler is broken")])
    outbox = Outbox(tmp_path / "box")
    outbox.append(rows(decided))
    with outbox.pending.open("ab") as handle:
        handle.write(b'{"rows": {"classifications": [{"id": "x"')
    assert outbox.replay(sessions) == 1
    assert (tmp_path / "box" / "unreadable.jsonl").read_bytes().startswith(b'{"rows"')


def test_readyz_shows_only_its_status_to_the_public_when_keys_are_required(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, require_api_key=True))
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            _, admin = create_api_key(session, "ops", ["admin"])
            _, classify_key = create_api_key(session, "crm", ["classify"])
        public = client.get("/readyz")
        other = client.get("/readyz", headers={"X-API-Key": classify_key})
        detailed = client.get("/readyz", headers={"X-API-Key": admin})
    assert public.json() == {"status": "degraded"}  # no model here: degraded, and nothing else (no paths)
    assert other.json() == {"status": "degraded"}
    assert "no-model" in detailed.json()["components"]["model"]["detail"] and detailed.json()["outbox_pending"] == 0


def test_sqlite_syncs_every_commit_and_leaves_nothing_in_the_wal_at_shutdown(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        assert client.post("/classify", json=COMPLAINT).json()["stored"] == "committed"
        with app.state.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL (NORMAL is 1)
    wal = tmp_path / "sift.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
    with Session(make_engine(f"sqlite:///{tmp_path / 'sift.db'}")) as session:
        assert session.scalar(select(func.count()).select_from(ClassificationRecord)) == 1


# --- a real server in a subprocess ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _scan_server_logs(tmp_path: Path) -> Iterator[None]:
    """What the servers of these tests logged goes through the log scan too (tests/logscan.py)."""
    yield
    for log in sorted(tmp_path.rglob("server.log")):
        scan_output(f"faults-{log.parent.name}", log.read_bytes())


def _all_answered(row: faults.Row) -> bool:
    return set(row.callers) <= {"200 committed", "200 pending"}


def test_a_truncated_unwritable_shm_file_does_not_kill_the_process(tmp_path: Path) -> None:
    row = faults.sqlite_shm_truncated(tmp_path / "srv", during=10)  # before: SIGBUS, no log line
    assert row.alive and _all_answered(row), row.line()
    assert row.lost == 0 and row.pending == 0 and row.stored == row.answered == 20


def test_a_database_swapped_for_a_read_only_copy_keeps_every_answered_row(tmp_path: Path) -> None:
    # The finding lost 13 rows to an orphaned WAL. Here main's code kept them only because SQLite, opening the
    # new file, replayed the old file's WAL left at the same path; now writes into a replaced file are refused
    # and the rows go to the outbox, then into the file at the path once it is writable.
    row = faults.sqlite_swapped_read_only(tmp_path / "srv", during=10)
    assert row.alive and _all_answered(row) and row.callers["200 pending"] == 10, row.line()
    assert row.lost == 0 and row.pending == 0 and row.stored == row.answered == 20


@pytest.mark.slow  # the in-process test above covers the lock; this one the real server
def test_sqlite_locked_by_another_process_degrades_and_loses_nothing(tmp_path: Path) -> None:
    row = faults.sqlite_locked(tmp_path / "srv", during=10)  # before: 30 s waits, bare 500s
    assert row.alive and _all_answered(row) and row.callers["200 pending"] == 10, row.line()
    assert "locked" in row.notes and row.lost == 0 and row.stored == row.answered == 20


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_down_degrades_and_loses_nothing(tmp_path: Path) -> None:
    admin = os.environ.get("SIFT_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("SIFT_TEST_POSTGRES_URL is not set")
    row = faults.postgres_down(tmp_path / "srv", admin, during=10)
    assert row.alive and _all_answered(row) and row.callers["200 pending"] == 10, row.line()
    assert "unreachable" in row.notes and row.lost == 0 and row.stored == row.answered == 20


@pytest.mark.slow
def test_sigterm_under_load_finishes_or_answers_503_and_resets_nobody(tmp_path: Path) -> None:
    row = faults.sigterm_under_load(tmp_path / "srv")  # before: up to 73 of 100 connections reset
    assert set(row.callers) <= {"200 committed", "200 pending", "503 json", "refused"}, row.line()
    assert row.callers["200 committed"] + row.callers["200 pending"] > 0
    assert row.lost == 0 and row.stored + row.pending == row.answered


@pytest.mark.slow
def test_sigterm_while_callers_never_pause_resets_nobody(tmp_path: Path) -> None:
    # Before api.listener, the listener closed with connections still arriving: about one reset per stream.
    row = faults.sigterm_under_a_stream(tmp_path / "srv")
    assert set(row.callers) <= {"200 committed", "200 pending", "503 json", "refused"}, row.line()
    assert row.callers["503 json"] > 0 and row.callers["refused"] > 0, row.line()  # it did close mid-stream
    assert row.lost == 0 and row.stored + row.pending == row.answered


def test_with_keys_required_a_known_key_still_classifies_through_an_outage(tmp_path: Path) -> None:
    """Before: with keys required, a database outage made /classify a 503 (the key could not be checked).
    A key seen valid in the last minutes is accepted from memory; its comment goes to the outbox."""
    with TestClient(create_app(make_settings(tmp_path, require_api_key=True))) as client:
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            _, known = create_api_key(session, "crm", ["classify"])
            _, unseen = create_api_key(session, "other", ["classify"])
        assert client.post("/classify", json=COMPLAINT, headers={"X-API-Key": known}).json()["stored"] == "committed"
        down = {"on": True}

        def fail(*_args: object) -> None:
            if down["on"]:
                raise exc.OperationalError("SELECT", None, sqlite3.OperationalError("unable to open database file"))

        event.listen(client.app.state.engine, "before_cursor_execute", fail)  # type: ignore[attr-defined]
        try:
            during = client.post("/classify", json=COMPLAINT, headers={"X-API-Key": known})
            stranger = client.post("/classify", json=COMPLAINT, headers={"X-API-Key": unseen})
        finally:
            down["on"] = False
        assert during.status_code == 200 and during.json()["stored"] == "pending"
        assert stranger.status_code == 503 and stranger.headers["retry-after"].isdigit()
        assert _eventually(lambda: _count(client) == 2)


# --- the store, the writer and the drain at shutdown, in process ------------------------------------------


@pytest.fixture
def store_parts(tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker[Session], Rows]]:
    from model.loader import build_pipeline
    from model.policy.config import load_policy
    from model.policy.engine import PolicyEngine
    from model.shipped import POLICY_FILE, STAFF_ROSTER

    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    decided = classify(pipeline, PolicyEngine(load_policy(POLICY_FILE)), [Submission(**COMPLAINT, author_id="fb-1")],
                       secret=b"s")
    yield engine, make_session_factory(engine), rows(decided)
    engine.dispose()


def _stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ClassificationRecord)) or 0)


def test_a_save_cancelled_once_it_began_gets_its_real_answer(
        tmp_path: Path, store_parts: tuple[Engine, sessionmaker[Session], Rows]) -> None:
    """Before: the shutdown's grace ending cancelled a request inside store.save; the writer committed anyway
    but the caller got a 503 "try again", so its retry stored the comment (and counted the offence) twice."""
    engine, sessions, kept = store_parts
    begun, gate = threading.Event(), threading.Event()

    def held(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO classifications"):
            begun.set()
            gate.wait(30)

    event.listen(engine, "before_cursor_execute", held)

    async def run() -> str:
        writer = GroupWriter(sessions)
        writer.start()
        store = DurableStore(writer, Outbox(tmp_path / "box"), sessions, engine)
        store.start()
        request = asyncio.create_task(store.save(kept))
        assert await asyncio.to_thread(begun.wait, 30)
        request.cancel()  # what Drain does to a request that has not started answering
        await asyncio.sleep(0)
        gate.set()
        try:
            return await request
        finally:
            await writer.stop()
            await store.stop()

    assert asyncio.run(run()) == "committed"
    event.remove(engine, "before_cursor_execute", held)
    assert _stored(sessions) == 1


def test_a_save_after_the_writer_stopped_goes_to_the_outbox_and_is_stored_by_the_store_s_stop(
        tmp_path: Path, store_parts: tuple[Engine, sessionmaker[Session], Rows]) -> None:
    """Before: the lifespan stops the writer before the store; a save in between queued on a writer with no
    consumer and waited forever (here: 30 s, then a TimeoutError)."""
    engine, sessions, kept = store_parts

    async def run() -> tuple[str, int]:
        writer = GroupWriter(sessions)
        writer.start()
        store = DurableStore(writer, Outbox(tmp_path / "box"), sessions, engine)
        store.start()
        await writer.stop()  # the lifespan's order
        answer = await asyncio.wait_for(store.save(kept), 30)
        waiting = store.pending
        await store.stop()
        return answer, waiting

    assert asyncio.run(run()) == ("pending", 1)
    assert _stored(sessions) == 1  # answered, and stored by the store's last flush


def test_a_short_write_to_the_outbox_during_an_outage_answers_503_not_pending(
        client: TestClient, db_down: Callable[[bool], None], monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: os.write's count was ignored; a disk filling up kept half a line and the caller was told
    "pending", a comment then lost. Now the write is finished or refused: the documented 503 (NotStored)."""
    import service.outbox

    real_write = os.write

    def filling_up(fd: int, data: bytes) -> int:
        if len(data) <= 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[:len(data) // 2]))

    monkeypatch.setattr(service.outbox.os, "write", filling_up)
    db_down(True)
    answer = client.post("/classify", json=COMPLAINT)
    db_down(False)
    monkeypatch.setattr(service.outbox.os, "write", real_write)
    assert answer.status_code == 503 and answer.headers["retry-after"].isdigit(), answer.text
    assert "outbox cannot be written" in answer.json()["details"][0]["message"]
    assert client.app.state.store.pending == 0  # type: ignore[attr-defined]
    pending = client.app.state.store.outbox.pending  # type: ignore[attr-defined]
    assert not pending.exists() or pending.read_bytes() == b""  # no half line to replay later


def test_the_drain_refusal_says_the_same_retry_after_as_the_other_503s() -> None:
    from api.errors import RETRY_AFTER_SECONDS
    from api.lifecycle import Drain, Draining

    async def never(scope: object, receive: object, send: object) -> None:
        raise AssertionError("a draining server must not run the request")

    drain = Drain()
    drain.draining = True
    answer = TestClient(Draining(never, drain)).get("/classify")
    assert answer.status_code == 503 and answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
