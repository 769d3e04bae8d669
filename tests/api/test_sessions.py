"""Server-side sessions: what ends one, and what the server keeps of it.

Issue 12: a session cookie still worked for 12 hours after sign-out (test_review covers sign-out).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.db.models import UserSession, utcnow
from service.users import AuthError, create_user, set_disabled, set_password
from tests.api.conftest import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    from api.main import create_app

    app = create_app(make_settings(tmp_path, model_poll_seconds=0, session_idle_minutes=30, session_max_hours=8))
    with TestClient(app):
        with app.state.session_factory() as session:
            create_user(session, "maria", PASSWORD)
        yield app


def _signed_in(app: FastAPI) -> TestClient:
    client = TestClient(app)
    assert client.post("/review/login", data={"username": "maria", "password": PASSWORD}, follow_redirects=False).status_code == 303
    assert _in(client)
    return client


def _in(client: TestClient) -> bool:
    return client.get("/review", follow_redirects=False).status_code == 200


def test_the_server_keeps_only_a_hash_of_the_session_id(app: FastAPI) -> None:
    client = _signed_in(app)
    cookie = client.cookies["sift_session"]
    with app.state.session_factory() as session:
        row = session.scalars(select(UserSession)).one()
    assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest() and cookie not in row.id_hash
    assert len(cookie) >= 40  # 32 random bytes
    page = client.get("/review").text
    assert re.search(r'name="csrf_token" value="([^"]+)"', page).group(1) == row.csrf  # type: ignore[union-attr]


def test_the_cookie_lasts_the_absolute_limit(app: FastAPI) -> None:
    response = TestClient(app).post("/review/login", data={"username": "maria", "password": PASSWORD}, follow_redirects=False)
    assert "max-age=28800" in response.headers["set-cookie"].lower()  # SIFT_SESSION_MAX_HOURS=8


@pytest.mark.parametrize(("column", "age"), [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=8))],
                         ids=["idle-too-long", "past-the-absolute-limit"])
def test_a_session_idle_too_long_or_past_its_absolute_limit_ends(app: FastAPI, column: str, age: timedelta) -> None:
    client = _signed_in(app)
    with app.state.session_factory() as session:
        values = {"last_seen_at": utcnow() - age} if column == "last_seen_at" else {"expires_at": utcnow() - timedelta(seconds=1)}
        session.execute(update(UserSession).values(**values))
        session.commit()
    assert not _in(client)
    assert client.get("/review/items").status_code == 401


def test_a_session_in_use_is_kept_alive_past_the_idle_limit(app: FastAPI) -> None:
    client = _signed_in(app)
    with app.state.session_factory() as session:
        session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
        session.commit()
    assert _in(client)  # used within the idle limit: last seen now
    with app.state.session_factory() as session:
        assert utcnow() - session.scalars(select(UserSession)).one().last_seen_at < timedelta(minutes=1)


def test_a_password_change_ends_every_session_of_that_user(app: FastAPI) -> None:
    laptop, phone = _signed_in(app), _signed_in(app)
    with app.state.session_factory() as session:
        assert set_password(session, "maria", "a brand new long passphrase") == 2
    assert not _in(laptop) and not _in(phone)
    fresh = TestClient(app)
    assert fresh.post("/review/login", data={"username": "maria", "password": PASSWORD}).status_code == 401
    assert fresh.post("/review/login", data={"username": "maria", "password": "a brand new long passphrase"},
                      follow_redirects=False).status_code == 303


def test_disabling_an_account_revokes_its_sessions_and_enabling_does_not_bring_them_back(app: FastAPI) -> None:
    client = _signed_in(app)
    with app.state.session_factory() as session:
        assert set_disabled(session, "maria", True) == 1
        set_disabled(session, "maria", False)
    assert not _in(client)


def test_a_password_change_follows_the_password_rules(app: FastAPI) -> None:
    with app.state.session_factory() as session, pytest.raises(AuthError, match="at least 12 characters"):
        set_password(session, "maria", "short")
    with app.state.session_factory() as session, pytest.raises(AuthError, match="no user 'nobody'"):
        set_password(session, "nobody", "a brand new long passphrase")
