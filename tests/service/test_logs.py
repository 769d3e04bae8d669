"""The log filter, the second guard behind ``hide_parameters``: what reaches a handler carries no statement
parameters, API keys, query-string secrets, emails or phone numbers."""

from __future__ import annotations

import io
import logging
import logging.config
import sys

import sqlalchemy as sa

from service.logs import Redact, install, redact, uvicorn_log_config

SECRET_TEXT = "ring me on 07700 900123 or jo.bloggs@example.org"


def _handler() -> tuple[logging.Handler, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(Redact())
    return handler, out


def test_a_failed_statement_logged_with_its_traceback_shows_no_parameters() -> None:
    engine = sa.create_engine("sqlite://")  # no hide_parameters: the filter alone must hold
    handler, out = _handler()
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE t (a TEXT UNIQUE)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:a)"), {"a": SECRET_TEXT})
        try:
            conn.execute(sa.text("INSERT INTO t VALUES (:a)"), {"a": SECRET_TEXT})
        except sa.exc.IntegrityError as exc:
            assert SECRET_TEXT in str(exc)  # the unguarded error does carry the text
            # Straight to the handler, as a logger would hand it over: through a logger, the suite's own log
            # scan (tests/logscan.py, which reads records before any handler's filter) would rightly flag it.
            record = logging.LogRecord("test.logs.statement", logging.ERROR, __file__, 1, "insert failed: %s", (exc,),
                                       sys.exc_info())
            handler.handle(record)
    logged = out.getvalue()
    assert "insert failed" in logged and "IntegrityError" in logged and "[parameters hidden]" in logged
    assert "07700" not in logged and "jo.bloggs" not in logged


def test_keys_and_query_secrets_in_an_access_line_are_hidden() -> None:
    line = redact('127.0.0.1:5000 - "POST /v1alpha1/comments:analyze?key=AIzaSyA-secret&x=1 HTTP/1.1" 200')
    assert "AIzaSyA-secret" not in line and "?key=[hidden]&x=1" in line
    assert redact("X-API-Key: sift_0123456789abcdefXYZ") == "X-API-Key: sift_[hidden]"


def test_ordinary_lines_pass_unchanged() -> None:
    line = "2026-12-02 02:31:24,120 INFO api.main: model: 20261201-210135-675c78 loaded (7 labels) in 0.41 s"
    assert redact(line) == line


def test_install_puts_the_filter_on_each_handler_once() -> None:
    log = logging.getLogger("test.logs.install")
    handler = logging.StreamHandler(io.StringIO())
    log.addHandler(handler)
    try:
        install(log)
        install(log)
        assert sum(isinstance(f, Redact) for f in handler.filters) == 1
    finally:
        log.removeHandler(handler)


def test_uvicorn_config_filters_its_access_and_error_handlers() -> None:
    config = uvicorn_log_config("warning")
    assert all(h["filters"] == ["redact"] for h in config["handlers"].values())
    assert config["loggers"]["uvicorn.access"]["level"] == "WARNING"
    logging.config.dictConfig(config)  # a config uvicorn can load
    try:
        assert any(isinstance(f, Redact) for h in logging.getLogger("uvicorn.access").handlers for f in h.filters)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "loggers": {
            "uvicorn": {"handlers": [], "propagate": True}, "uvicorn.access": {"handlers": [], "propagate": True}}})
