"""Rate limits: sign-in per username (the lockout) and per address, /classify per key and per address.

Issue 12: 50 wrong passwords in 9 s were all accepted as attempts, with no lockout and no Retry-After.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from service.db.repository import create_api_key
from service.users import create_user
from tests.api.conftest import make_settings
from tests.api.test_security_headers import assert_security_headers

PASSWORD = "correct horse battery"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path, model_poll_seconds=0))
    with TestClient(app):
        with app.state.session_factory() as session:
            for name in ("maria", "sam"):
                create_user(session, name, PASSWORD)
        yield app


def _sign_in(client: TestClient, username: str, password: str) -> int:
    return client.post("/review/login", data={"username": username, "password": password}, follow_redirects=False).status_code


def test_fifty_wrong_passwords_lock_the_username_even_against_the_right_password(app: FastAPI) -> None:
    client = TestClient(app, client=("203.0.113.9", 50000))
    statuses = [_sign_in(client, "maria", f"wrong guess number {n}") for n in range(50)]
    assert statuses[:5] == [401] * 5  # the first five are checked
    assert set(statuses[5:]) == {429}  # the other 45 are refused without checking the password
    refused = client.post("/review/login", data={"username": "maria", "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 429  # locked out: the right password does not get in either
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert refused.json()["error"].startswith("too many requests: at most 20 sign-in attempts per client address every "
                                              "15 minutes; try again in ")  # 50 from one address: that limit too
    # From another address too: the lockout is the username's, not the address's.
    elsewhere = TestClient(app, client=("198.51.100.7", 50000))
    locked = elsewhere.post("/review/login", data={"username": "maria", "password": PASSWORD})
    assert locked.status_code == 429 and "at most 5 sign-in attempts per username every 15 minutes" in locked.json()["error"]
    assert _sign_in(elsewhere, "sam", PASSWORD) == 303  # other accounts are not locked


def test_a_browser_is_shown_the_form_with_when_to_try_again(app: FastAPI) -> None:
    client = TestClient(app, client=("203.0.113.9", 50000))
    for n in range(5):
        _sign_in(client, "maria", f"wrong guess number {n}")
    page = client.post("/review/login", data={"username": "maria", "password": PASSWORD}, headers={"accept": "text/html"})
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
    assert "Too many sign-in attempts. Try again in 15 minutes." in page.text and 'name="password"' in page.text


def test_spraying_one_password_across_usernames_from_one_address_is_refused(app: FastAPI) -> None:
    client = TestClient(app, client=("203.0.113.9", 50000))
    statuses = [_sign_in(client, f"user{n}", "Spring2026spring") for n in range(30)]
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    assert _sign_in(client, "sam", PASSWORD) == 429  # this address is done for the window
    assert _sign_in(TestClient(app, client=("198.51.100.7", 50000)), "sam", PASSWORD) == 303


def test_a_successful_sign_in_starts_the_usernames_count_again(app: FastAPI) -> None:
    client = TestClient(app, client=("203.0.113.9", 50000))
    for _ in range(3):
        for n in range(4):
            assert _sign_in(client, "maria", f"typo number {n}") == 401
        assert _sign_in(client, "maria", PASSWORD) == 303


def test_the_sign_in_lockout_holds_across_workers_through_the_database(tmp_path: Path, database_url: str) -> None:
    # Two apps on one database stand for two worker processes: no Redis, so the sign-in counters are in
    # the database's rate_limits table, which both see (SQLite, and PostgreSQL when SIFT_TEST_POSTGRES_URL is set).
    first, second = (create_app(make_settings(tmp_path, model_poll_seconds=0, database_url=database_url)) for _ in range(2))
    with TestClient(first) as a, TestClient(second) as b:
        with first.state.session_factory() as session:
            create_user(session, "maria", PASSWORD)
        for n in range(5):
            assert _sign_in(a if n % 2 else b, "maria", f"wrong guess number {n}") == 401
        assert _sign_in(a, "maria", PASSWORD) == 429 and _sign_in(b, "maria", PASSWORD) == 429


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running at 127.0.0.1:6379")
def test_with_redis_every_limit_is_shared_across_workers(tmp_path: Path) -> None:
    secret = uuid.uuid4().hex  # the keys in Redis are keyed hashes: a fresh secret is a fresh set of counters
    apps = [create_app(make_settings(tmp_path / str(n), model_poll_seconds=0, redis_url=REDIS_URL, secret_key=secret,
                                     classify_ip_limit="4/minute")) for n in range(2)]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        for app in apps:
            with app.state.session_factory() as session:
                create_user(session, "maria", PASSWORD)
        for n in range(5):
            assert _sign_in(a if n % 2 else b, "maria", f"wrong guess number {n}") == 401
        assert _sign_in(a, "maria", PASSWORD) == 429 and _sign_in(b, "maria", PASSWORD) == 429
        answered = [(a if n % 2 else b).post("/classify", json={"text": "hello there"}).status_code for n in range(6)]
        assert answered == [200] * 4 + [429] * 2  # two workers, one count


def test_when_the_limit_storage_fails_the_limits_still_hold_in_the_worker_and_the_log_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on: Redis "down"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(make_settings(tmp_path, model_poll_seconds=0, redis_url=f"redis://127.0.0.1:{port}/0"))
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        with app.state.session_factory() as session:
            create_user(session, "maria", PASSWORD)
        statuses = [_sign_in(client, "maria", f"wrong guess number {n}") for n in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert "rate-limit storage failed" in caplog.text and "maria" not in caplog.text


def test_classify_is_limited_per_key_with_a_json_429_and_retry_after(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, model_poll_seconds=0, require_api_key=True, classify_key_limit="3/minute"))
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            _, one = create_api_key(session, "crm", ["classify"])
            _, other = create_api_key(session, "bot", ["classify"])
        answers = [client.post("/classify", json={"text": "hello there"}, headers={"X-API-Key": one}) for _ in range(5)]
        batch = client.post("/classify/batch", json={"items": [{"text": "hi"}]}, headers={"X-API-Key": one})
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429] and batch.status_code == 429
        refused = answers[-1]
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"].startswith("too many requests: at most 3 requests per API key every minute; try again in ")
        assert client.post("/classify", json={"text": "hello there"}, headers={"X-API-Key": other}).status_code == 200


def test_classify_is_limited_per_client_address_whatever_the_key(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, model_poll_seconds=0, classify_ip_limit="4/minute"))
    with TestClient(app, client=("203.0.113.9", 50000)) as client:  # one client: /classify needs the lifespan's loop
        answers = [client.post("/classify", json={"text": "hello there"}) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 4 + [429] * 2
        assert "at most 4 requests per client address every minute" in answers[-1].json()["error"]
        assert_security_headers(answers[-1])
        limits = app.state.rate_limits  # another address has its own count
        assert limits.classify(None, "198.51.100.7") is None and limits.classify(None, "203.0.113.9") is not None


def test_the_signed_doors_count_against_the_same_address_limit_before_the_signature_is_checked(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, model_poll_seconds=0, classify_ip_limit="4/minute",
                                   coral_signing_secret="ems_limit", meta_app_secret="meta-limit"))
    with TestClient(app, client=("203.0.113.9", 50000)) as client:
        unsigned = [client.post("/coral/moderate", content=b"{}"), client.post("/webhooks/meta", content=b"{}"),
                    client.post("/coral/moderate", content=b"{}"), client.post("/webhooks/meta", content=b"{}")]
        assert [r.status_code for r in unsigned] == [401] * 4  # counted, then refused for want of a signature
        over = [client.post("/coral/moderate", content=b"{}"), client.post("/webhooks/meta", content=b"{}"),
                client.post("/classify", json={"text": "hello there"})]
        assert [r.status_code for r in over] == [429] * 3 and all("Retry-After" in r.headers for r in over)


def test_the_limits_are_in_the_openapi_spec() -> None:
    app = create_app(make_settings(Path("/nonexistent")))
    paths = app.openapi()["paths"]
    for path in ("/classify", "/classify/batch", "/coral/moderate", "/webhooks/meta", "/webhooks/x"):
        assert "429" in paths[path]["post"]["responses"], path


@pytest.mark.parametrize(("name", "value"), [("signin_user_limit", "five a minute"), ("classify_ip_limit", "10 per fortnight")])
def test_a_limit_the_library_cannot_read_fails_at_start_naming_the_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"SIFT_{name.upper()} must be like '5/15 minutes'"):
        make_settings(tmp_path, **{name: value})
