"""API keys through a database outage: a key seen valid recently still works (so /classify keeps answering
into the outbox); an unknown key, a revoked one, or one not seen for longer than the grace gets the error."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, exc
from sqlalchemy.orm import Session, sessionmaker

from service.db.repository import create_api_key, revoke_api_key
from service.keys import KnownKeys


class _Down:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.on = False
        event.listen(sessions.kw["bind"], "before_cursor_execute", self._fail)

    def _fail(self, *_args: object) -> None:
        if self.on:
            raise exc.OperationalError("SELECT", None, sqlite3.OperationalError("unable to open database file"))


def test_a_key_seen_valid_is_accepted_through_an_outage_within_the_grace(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        row, plain = create_api_key(session, "crm", ["classify"])
    now = [1000.0]
    known = KnownKeys(grace_seconds=60, clock=lambda: now[0])
    down = _Down(sessions)
    down.on = True
    with pytest.raises(exc.OperationalError):
        known.lookup(sessions, plain)  # never seen: the database's error (a 503 in the API)
    down.on = False
    assert known.lookup(sessions, plain).id == row.id  # type: ignore[union-attr]
    down.on = True
    now[0] += 59
    assert known.lookup(sessions, plain).id == row.id  # type: ignore[union-attr]
    now[0] += 2
    with pytest.raises(exc.OperationalError):
        known.lookup(sessions, plain)  # seen too long ago


def test_a_revoked_key_is_refused_at_once_while_the_database_answers(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        row, plain = create_api_key(session, "crm", ["classify"])
    known = KnownKeys()
    assert known.lookup(sessions, plain) is not None
    with sessions() as session:
        revoke_api_key(session, row.id)
    assert known.lookup(sessions, plain) is None
    down = _Down(sessions)
    down.on = True
    with pytest.raises(exc.OperationalError):
        known.lookup(sessions, plain)  # refused before the outage: not remembered


def test_an_unrelated_database_error_is_not_hidden(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _, plain = create_api_key(session, "crm", ["classify"])
    known = KnownKeys()
    known.lookup(sessions, plain)

    def broken(*_args: object) -> None:
        raise exc.ProgrammingError("SELECT", None, sqlite3.ProgrammingError("no such column"))

    event.listen(sessions.kw["bind"], "before_cursor_execute", broken)
    with pytest.raises(exc.ProgrammingError):
        known.lookup(sessions, plain)
