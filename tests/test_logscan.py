"""The log scan can fail: planted leaks are found, named by logger and shown redacted; a clean log passes; a
session that leaks exits 1 (run as a pytest session of its own, so this suite does not fail)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import logscan
from tests.logscan import Capture, Registry, read_lines, scan

REPO = Path(__file__).resolve().parents[1]
TEXT = "the caretaker at Flat 9 Rowan House keeps shouting at us"


def _scan(tmp_path: Path, registry: Registry, *messages: tuple[str, str]) -> list[logscan.Leak]:
    capture = Capture(tmp_path)
    for name, message in messages:
        capture.emit(logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None))
    capture.close()
    return scan(read_lines(tmp_path), registry)


@pytest.mark.parametrize(("message", "kind"), [
    (f"INSERT failed with parameters ('{TEXT}', 'x')", "comment text"),
    ("author tw-4242 was blocked", "author id"),
    ("login for maria with correct horse battery", "password"),
    ("write me at jo.bloggs@example.org about it", "email"),
    ("ring 07700 900123 after six", "phone"),
    ("key sift_" + "A" * 43 + " accepted", "api key"),
    ("cookie sift_session=eyJ1c2VybmFtZSI6Im1hcmlhIn0.Zx9.abc accepted", "session cookie"),
])
def test_a_planted_leak_is_found_with_its_logger_and_shown_redacted(tmp_path: Path, message: str, kind: str) -> None:
    registry = Registry()
    for value, what in ((TEXT, "comment text"), ("tw-4242", "author id"), ("correct horse battery", "password")):
        registry.add(value, what)
    leaks = _scan(tmp_path, registry, ("uvicorn.error", "started"), ("sqlalchemy.engine.Engine", message))
    assert [(leak.kind, leak.where) for leak in leaks] == [(kind, "logger sqlalchemy.engine.Engine (ERROR)")]
    assert f"[{kind}]" in leaks[0].excerpt
    assert not any(secret in leaks[0].excerpt for secret in (TEXT, "tw-4242", "correct horse", "jo.bloggs", "900123", "AAAA"))


def test_a_clean_log_passes_and_short_values_match_only_as_words(tmp_path: Path) -> None:
    registry = Registry()
    registry.add("hi", "comment text")  # too short to look for
    registry.add("Tom5", "author id")  # short: whole words only
    leaks = _scan(tmp_path, registry, ("api.main", "model: loaded from /tmp/Tom55/model at 2026-12-01 10:00:00,123 (pid 4242)"),
                  ("httpx", 'HTTP Request: POST http://testserver/classify "HTTP/1.1 200 OK"'))
    assert leaks == []
    (tmp_path / "again").mkdir()
    assert [leak.kind for leak in _scan(tmp_path / "again", registry, ("api.main", "blocked Tom5."))] == ["author id"]


def test_a_subprocess_output_and_a_text_sent_over_http_are_covered(tmp_path: Path) -> None:
    """Through the session's own recording: a JSON body sent by an httpx client registers its text."""
    import httpx

    secret = "Planted comment: please call Mrs Example about the damp"
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    client.post("http://test/classify", json={"text": secret, "author_id": "planted-author-77"})
    values = dict(logscan.REGISTRY.items())
    assert values.get(secret) == "comment text" and values.get("planted-author-77") == "author id"
    out = tmp_path / "server-0.out"
    out.write_text(f"ERROR: failed to store {secret}\n", encoding="utf-8")
    leaks = scan(read_lines(tmp_path), logscan.REGISTRY)
    assert [(leak.kind, leak.where) for leak in leaks] == [("comment text", "output of server-0")]


def test_a_record_marked_as_planted_is_not_captured_by_the_session(tmp_path: Path) -> None:
    capture = Capture(tmp_path)
    capture.emit(logging.makeLogRecord({"name": "x", "msg": "write me at jo.bloggs@example.org", logscan.PLANTED: True}))
    capture.close()
    assert capture.records == 0


LEAKY_SESSION = '''
import logging

import httpx


def test_sends_and_logs_a_comment():
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    client.post("http://test/classify", json={"text": "Mrs Planted of 4 Elm Row is a liar"})
    logging.getLogger("sift.leaky").warning("could not store %s", "Mrs Planted of 4 Elm Row is a liar")
'''
CLEAN_SESSION = LEAKY_SESSION.replace('"could not store %s", "Mrs Planted of 4 Elm Row is a liar"', '"could not store %s", "a comment"')


@pytest.mark.parametrize(("source", "code"), [(LEAKY_SESSION, 1), (CLEAN_SESSION, 0)])
def test_a_session_that_leaks_exits_1_and_says_where(tmp_path: Path, source: str, code: int) -> None:
    (tmp_path / "test_inner.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SIFT_LOGSCAN_KEEP"}  # the planted leak is not worth keeping
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.logscan", "-p", "no:cacheprovider", "-q", "test_inner.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    if code:
        assert "comment text in logger sift.leaky (WARNING): …could not store [comment text]…" in done.stdout
        assert "Planted" not in done.stdout.split("log scan")[-1]
    else:
        assert "no leak" in done.stdout
