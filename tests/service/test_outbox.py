"""The outbox file itself: torn lines, short writes, entries the database refuses, lines set aside once."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import event, exc, select
from sqlalchemy.orm import Session, sessionmaker

from model.loader import build_pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.shipped import POLICY_FILE, STAFF_ROSTER
from service import outbox as outbox_module
from service.comments import Rows, Submission, classify, drop_records, rows
from service.db.models import AuthorOffence, ClassificationRecord, ReviewItem
from service.outbox import Outbox

TEXTS = ["The boiler is broken again", "those clowns never came", "Thanks, the lift works"]


@pytest.fixture(scope="module")
def decided_rows() -> list[Rows]:
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    policy = PolicyEngine(load_policy(POLICY_FILE))
    return [rows(classify(pipeline, policy, [Submission(text=t, channel="facebook", author_id=f"fb-{i}")], secret=b"s"))
            for i, t in enumerate(TEXTS)]


def _stored(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(ClassificationRecord.id)))


def _ids(*batches: Rows) -> set[str]:
    return {r["id"] for batch in batches for r in batch[ClassificationRecord.__tablename__]}


def _outage(sessions: sessionmaker[Session]) -> dict[str, bool]:
    down = {"on": True}

    def fail(*_args: object) -> None:
        if down["on"]:
            raise exc.OperationalError("SELECT", None, sqlite3.OperationalError("unable to open database file"))

    event.listen(sessions.kw["bind"], "before_cursor_execute", fail)
    return down


def test_an_append_after_a_torn_line_is_kept_and_the_depth_comes_back_to_zero(
        tmp_path: Path, sessions: sessionmaker[Session], decided_rows: list[Rows]) -> None:
    """Before: the next append was glued onto the torn line, the two went to unreadable.jsonl together (an
    answered comment lost), and the depth stayed at 1 forever (so every later comment went to the outbox)."""
    first, answered = decided_rows[0], decided_rows[1]
    box = Outbox(tmp_path / "box")
    box.append(first)
    with box.pending.open("ab") as handle:  # the process died inside os.write: no line break
        handle.write(b'{"rows":{"classifications":[{"id":"x"')
    box = Outbox(tmp_path / "box")  # restarted
    box.append(answered)
    assert box.depth == 2
    assert box.replay(sessions) == 2
    assert _stored(sessions) == _ids(first, answered)
    assert box.depth == 0 and Outbox(tmp_path / "box").depth == 0
    assert (tmp_path / "box" / "unreadable.jsonl").read_bytes() == b'{"rows":{"classifications":[{"id":"x"\n'


def test_short_writes_are_finished_and_a_write_that_cannot_finish_raises_and_keeps_nothing(
        tmp_path: Path, sessions: sessionmaker[Session], decided_rows: list[Rows],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: os.write's count was ignored, so a short write (a disk filling up) kept a cut line and answered."""
    real_write = os.write
    monkeypatch.setattr(outbox_module.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    box = Outbox(tmp_path / "box")
    box.append(decided_rows[0])
    box.append(decided_rows[1])
    left = {"bytes": 100}

    def filling_up(fd: int, data: bytes) -> int:
        if left["bytes"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = real_write(fd, bytes(data[:min(7, left["bytes"])]))
        left["bytes"] -= written
        return written

    before = box.pending.read_bytes()
    monkeypatch.setattr(outbox_module.os, "write", filling_up)
    with pytest.raises(OSError):
        box.append(decided_rows[2])
    assert box.pending.read_bytes() == before and box.depth == 2  # the part written was cut off again
    monkeypatch.setattr(outbox_module.os, "write", real_write)
    assert box.replay(sessions) == 2 and _stored(sessions) == _ids(decided_rows[0], decided_rows[1])
    assert not (tmp_path / "box" / "unreadable.jsonl").exists()


def test_an_entry_the_database_refuses_is_set_aside_and_the_rest_is_written(
        tmp_path: Path, sessions: sessionmaker[Session], decided_rows: list[Rows],
        caplog: pytest.LogCaptureFixture) -> None:
    """Before: one entry failing with a non-outage error (here NOT NULL) failed its whole group on every try:
    nothing behind it was ever written, and every new comment went to the outbox."""
    good1, good2 = decided_rows[0], decided_rows[2]
    bad = {table: [dict(r) for r in table_rows] for table, table_rows in decided_rows[1].items()}
    bad[ClassificationRecord.__tablename__][0]["text_sha256"] = None
    box = Outbox(tmp_path / "box")
    for entry in (good1, bad, good2):
        box.append(entry)
    with caplog.at_level(logging.INFO, logger="service.outbox"):
        assert box.replay(sessions) == 2
    assert _stored(sessions) == _ids(good1, good2)
    assert box.depth == 0 and not box.pending.exists() and not box.replaying.exists()
    rejected = tmp_path / "box" / "rejected.jsonl"
    assert box.rejected == 1 and Outbox(tmp_path / "box").rejected == 1  # for /readyz to show
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    assert _ids(bad) <= {line for line in rejected.read_text().split('"') if len(line) == 36}
    assert "IntegrityError" in caplog.text and TEXTS[1] not in caplog.text  # why, never what
    box.append(bad)  # the same entry again: refused again, kept once
    box.replay(sessions)
    assert box.rejected == 1 and len(rejected.read_bytes().splitlines()) == 1


def test_an_outage_while_writing_one_by_one_keeps_everything_for_the_next_try(
        tmp_path: Path, sessions: sessionmaker[Session], decided_rows: list[Rows]) -> None:
    bad = {table: [dict(r) for r in table_rows] for table, table_rows in decided_rows[1].items()}
    bad[ClassificationRecord.__tablename__][0]["text_sha256"] = None
    box = Outbox(tmp_path / "box")
    box.append(bad)
    box.append(decided_rows[0])
    down = _outage(sessions)
    with pytest.raises(exc.OperationalError):
        box.replay(sessions)
    assert box.depth == 2 and box.rejected == 0  # an outage is not the entry's fault
    down["on"] = False
    assert box.replay(sessions) == 1 and box.rejected == 1 and box.depth == 0


def test_a_line_that_cannot_be_read_is_copied_aside_once_however_often_the_replay_is_retried(
        tmp_path: Path, sessions: sessionmaker[Session], decided_rows: list[Rows]) -> None:
    """Before: unreadable.jsonl got the same line again on every retry while the database was down."""
    box = Outbox(tmp_path / "box")
    box.append(decided_rows[0])
    with box.pending.open("ab") as handle:
        handle.write(b"not an entry\n")
    down = _outage(sessions)
    for _ in range(3):
        with pytest.raises(exc.OperationalError):
            box.replay(sessions)
    down["on"] = False
    assert box.replay(sessions) == 1 and box.depth == 0
    assert (tmp_path / "box" / "unreadable.jsonl").read_bytes() == b"not an entry\n"


def test_drop_records_drops_a_record_with_its_offences_and_review_item(decided_rows: list[Rows]) -> None:
    both = {table: decided_rows[0][table] + decided_rows[1][table] for table in decided_rows[0]}
    gone = _ids(decided_rows[1])
    kept = drop_records(both, gone)
    assert _ids(kept) == _ids(decided_rows[0])
    for table in (AuthorOffence.__tablename__, ReviewItem.__tablename__):
        assert not {r["classification_id"] for r in kept[table]} & gone
    assert drop_records(both, set()) is both
