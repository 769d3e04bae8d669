"""Logging that keeps secrets and personal data out: the second guard.

The first guard is the code: nothing logs a comment's text, and SQLAlchemy engines are made with
``hide_parameters`` so a failing statement's error never carries its values. This filter catches what
slips past anyway, on every handler the service logs through (its own and uvicorn's): a statement's
``[parameters: ...]``, sift API keys, secrets in a query string (``?key=`` as Perspective clients send
it), email addresses and UK phone numbers, in the message, its arguments and a traceback's text.

Example::

    handler.addFilter(Redact())
    uvicorn.run(..., log_config=uvicorn_log_config("info"))
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from service.db.repository import KEY_PREFIX

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SQLAlchemy's rendering of a failed statement: "[parameters: (...)]" up to its "(Background on ...)" line.
    (re.compile(r"\[parameters: .*?(?=\n\(Background on this error|\Z)", re.DOTALL), "[parameters hidden]"),
    # hub.verify_token: Meta's webhook verification carries the verify token in the query string.
    (re.compile(r"(?i)([?&](?:key|api_key|apikey|access_token|token|password|secret|hub\.verify_token)=)[^&\s\"']*"),
     r"\1[hidden]"),
    (re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_\-]{8,}"), KEY_PREFIX + "[hidden]"),
    (re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"), "[EMAIL]"),
    (re.compile(r"(?<![\w.])(?:\+44\s?(?:\(0\)\s?)?|0)[1-37](?:[\s\-]?\d){8,9}(?!\d)"), "[PHONE]"),
)


def redact(text: str) -> str:
    """``text`` with statement parameters, API keys, query-string secrets, emails and UK phone numbers hidden.

    >>> redact("landline 020 7946 0958, mobile +44 7700 900123")
    'landline [PHONE], mobile [PHONE]'
    >>> redact("GET /v1alpha1/comments:analyze?key=sift_abcdefghijkl HTTP/1.1")
    'GET /v1alpha1/comments:analyze?key=[hidden] HTTP/1.1'
    >>> redact("GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=abc123 HTTP/1.1")
    'GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=[hidden] HTTP/1.1'
    >>> redact("call 07700 900123 or mail a.b@example.org")
    'call [PHONE] or mail [EMAIL]'
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    """An argument as it will be shown, redacted: numbers stay numbers (for ``%d``), anything else (an
    exception, a dict of parameters) is turned into its text first, since that text is what gets logged."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(value if isinstance(value, str) else str(value))


class Redact(logging.Filter):
    """Rewrites each record in place (it never drops one): message, arguments and traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of ``logger`` (the root logger by default) that lacks it."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, Redact) for f in handler.filters):
            handler.addFilter(Redact())


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration with the filter on its handlers (the access log included, whose
    request line carries the query string)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": Redact}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    for logger in config["loggers"].values():
        logger["level"] = level.upper()
    return config
