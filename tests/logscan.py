"""The log scan: every log record the test suite produces, and what its server subprocesses write, is checked at the
end of the session for what the tests sent that must never be logged: comment texts, author ids, passwords, API
keys, session cookies, CSRF tokens, and any phone number or email address. A leak fails the session (exit code 1)
and the summary names the logger (or the subprocess's output) and shows a redacted excerpt.

What is captured: the root logger is set to DEBUG, and every record any logger emits is written to a session file,
whatever its logger's handlers and ``propagate`` (``logging.Logger.callHandlers`` is wrapped, so uvicorn's loggers,
which do not propagate, and loggers reconfigured by ``dictConfig`` are caught too). Library loggers keep the levels
``sift serve`` gives them (:data:`cli.common.LIBRARY_LEVELS`): the scan checks what the service would log at
``SIFT_LOG_LEVEL=DEBUG``. A subprocess server writes its stdout and stderr to :func:`output_file`; a finished
command's captured output goes through :func:`scan_output`.

What is known to be sensitive, recorded as the tests run (nothing for a test to remember):

- every submission decided in this process (:func:`service.comments.decide`, the one path of a comment): its text
  and author id, and each email address and phone number in the text;
- every request an ``httpx`` client sends (``TestClient`` included): JSON ``text``, ``author_id``, ``password`` and
  ``note`` fields, the same form fields and ``csrf_token``, the ``X-API-Key``, ``Authorization``, ``Cookie`` and
  ``X-CSRF-Token`` headers; and every ``Set-Cookie`` the server answers;
- passwords given to :func:`service.users.create_user`; arguments and input of ``sift`` commands run by the tests
  (``CliRunner`` or a subprocess): texts, ``--author-id``, JSON Lines files' texts and author ids;
- anything a test adds with :func:`sensitive`.

Patterns found in the logs without being recorded: API keys (``sift_`` and 43 characters), ``sift_session=`` cookies,
email addresses and UK phone numbers. Values shorter than :data:`MIN_CHARS` are matched as whole words only, and
values shorter than :data:`MIN_WORD_CHARS` are not matched (a two-letter text would match everywhere).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

MIN_CHARS = 8  # values this long are matched anywhere
MIN_WORD_CHARS = 4  # shorter ones (4 to 7 characters) only as whole words; below 4, not at all
PLANTED = "logscan_planted"  # a record with this attribute is the scanner's own test of itself, not a leak

PATTERNS = {
    "api key": re.compile(r"sift_[A-Za-z0-9_-]{43}"),
    "session cookie": re.compile(r"sift_session=[A-Za-z0-9._=-]{16,}"),
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "phone": re.compile(r"(?<![\w.:/-])(?:\+44\s?\(?0?\)?\s?|\(?0)[1-37]\d{2,4}\)?[\s-]?\d{3}[\s-]?\d{3,4}(?![\w.:/-])"),
}
_JSON_FIELDS = {"text": "comment text", "author_id": "author id", "password": "password", "note": "moderator note",
                "new_password": "password"}
_FORM_FIELDS = {**_JSON_FIELDS, "csrf_token": "csrf token"}
_HEADERS = {"x-api-key": "api key", "x-csrf-token": "csrf token"}


@dataclass(frozen=True)
class Leak:
    kind: str
    where: str  # the logger's name, or the subprocess output's name
    excerpt: str  # redacted


class Registry:
    """The values the tests sent, each with its kind; thread-safe (servers in threads record too)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, value: object, kind: str) -> None:
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_WORD_CHARS:
            return
        with self._lock:
            self._values.setdefault(value, kind)
        if kind == "comment text":
            for pattern in ("email", "phone"):
                for found in PATTERNS[pattern].findall(value):
                    self.add(found, pattern)
                    digits = re.sub(r"\D", "", found) if pattern == "phone" else ""
                    if len(digits) >= 10:
                        self.add(digits, pattern)

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._values.items())

    def __len__(self) -> int:
        return len(self._values)


class Capture:
    """Every record, one line each (``logger<TAB>level<TAB>message and traceback``), in a session folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "in-process.log"
        self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        self._lock = threading.Lock()
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, PLANTED, False):
            return
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call still counts: its template and arguments, as given
            message = f"{record.msg!r} % {record.args!r}"
        if record.exc_info:
            message += " " + "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            message += " " + record.exc_text
        if record.stack_info:
            message += " " + record.stack_info
        line = f"{record.name}\t{record.levelname}\t{message}".replace("\r", " ").replace("\n", " \u23ce ")
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self.records += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()


def scan(lines: Iterable[tuple[str, str]], registry: Registry, limit: int = 50) -> list[Leak]:
    """The leaks in ``lines`` of (where, text): recorded values, then the patterns. At most ``limit``."""
    values = registry.items()
    matcher = _matcher([v for v, _ in values])
    leaks: list[Leak] = []
    for where, text in lines:
        found: list[tuple[int, int, str]] = []
        if matcher is not None:
            for index, start, end in matcher.find_matches_as_indexes(text, overlapping=True):
                value, kind = values[index]
                if len(value) >= MIN_CHARS or _whole_word(text, start, end):
                    found.append((start, end, kind))
        for kind, pattern in PATTERNS.items():
            found.extend((m.start(), m.end(), kind) for m in pattern.finditer(text))
        if found:
            leaks.extend(Leak(kind, where, _excerpt(text, found, start)) for start, _, kind in _first_per_kind(found))
            if len(leaks) >= limit:
                return leaks[:limit]
    return leaks


def _matcher(values: list[str]) -> Any:
    if not values:
        return None
    import ahocorasick_rs

    return ahocorasick_rs.AhoCorasick(values)


def _whole_word(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())


def _first_per_kind(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    seen: dict[str, tuple[int, int, str]] = {}
    for hit in sorted(found):
        seen.setdefault(hit[2], hit)
    return list(seen.values())


def _excerpt(text: str, found: list[tuple[int, int, str]], around: int, width: int = 100) -> str:
    """About ``width`` characters either side of ``around``, every hit in it replaced by ``[kind]``."""
    lo, hi = max(0, around - width), around + width
    hits = sorted(h for h in found if h[0] < hi and h[1] > lo)
    lo, hi = min([lo, *(h[0] for h in hits)]), max([hi, *(h[1] for h in hits)])
    out, pos = [], lo
    for start, end, kind in hits:
        if start >= pos:
            out.append(text[pos:start] + f"[{kind}]")
            pos = end
    out.append(text[pos:hi])
    return "".join(out).strip()


def read_lines(folder: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for each captured record and each line of each subprocess's output."""
    for path in sorted(folder.iterdir()):
        with path.open(encoding="utf-8", errors="replace") as stream:
            for line in stream:
                if path.name == "in-process.log":
                    name, _, rest = line.partition("\t")
                    level, _, message = rest.partition("\t")
                    yield f"logger {name} ({level})", message
                else:
                    yield f"output of {path.stem}", line


# --- the session's state, and the hooks that feed it ---------------------------------------------------------------

REGISTRY = Registry()
_state: dict[str, Any] = {}


def sensitive(value: str, kind: str = "secret") -> str:
    """Mark ``value`` as something the logs must never hold; returns it, for use inline."""
    REGISTRY.add(value, kind)
    return value


def output_file(name: str) -> Path:
    """Where a subprocess started by a test writes its output (``stdout=``/``stderr=``), scanned at the end."""
    folder: Path = _state.get("folder") or Path(tempfile.mkdtemp(prefix="sift-logscan-"))
    _state.setdefault("folder", folder)
    stem = re.sub(r"[^\w.-]", "_", name)[:80]
    for n in range(1000):
        path = folder / f"{stem}-{n}.out"
        if not path.exists():
            path.touch()
            return path
    raise RuntimeError(f"too many outputs named {name}")


def scan_output(name: str, *texts: str | bytes | None) -> None:
    """Scan what a finished subprocess wrote (``subprocess.run(..., capture_output=True)``)."""
    with output_file(name).open("w", encoding="utf-8") as stream:
        for text in texts:
            if text:
                stream.write(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
                stream.write("\n")


def _record_request(request: Any) -> None:
    for header, kind in _HEADERS.items():
        REGISTRY.add(request.headers.get(header), kind)
    auth = request.headers.get("authorization", "")
    REGISTRY.add(auth.partition(" ")[2], "api key")
    for part in request.headers.get("cookie", "").split(";"):
        REGISTRY.add(part.partition("=")[2], "cookie")
    try:
        body = request.content
    except Exception:  # noqa: BLE001 - a streamed body the client has not read: nothing to record
        return
    if not body:
        return
    kind = request.headers.get("content-type", "")
    if "json" in kind:
        try:
            _record_json(json.loads(body))
        except (ValueError, RecursionError):  # not JSON, or nested past what json can read: the server refuses it too
            return
    elif "x-www-form-urlencoded" in kind:
        for key, value in parse_qsl(body.decode("utf-8", "replace")):
            if key in _FORM_FIELDS:
                REGISTRY.add(value, _FORM_FIELDS[key])


def _record_json(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _JSON_FIELDS:
                REGISTRY.add(item, _JSON_FIELDS[key])
            _record_json(item)
    elif isinstance(value, list):
        for item in value:
            _record_json(item)


def _record_response(response: Any) -> None:
    for cookie in response.headers.get_list("set-cookie"):
        REGISTRY.add(cookie.partition("=")[2].partition(";")[0], "cookie")


def _record_command(args: Iterable[Any], given: Any = None) -> None:
    """A ``sift`` command's texts, author ids and JSON Lines inputs (its other arguments are options and paths)."""
    args = [str(a) for a in args]
    for i, arg in enumerate(args):
        if i and args[i - 1] in {"--author-id", "--text", "--note"}:
            REGISTRY.add(arg, "author id" if args[i - 1] == "--author-id" else "comment text")
        elif arg.endswith((".jsonl", ".json")) and Path(arg).is_file() and Path(arg).stat().st_size < 50_000_000:
            for line in Path(arg).read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    _record_json(json.loads(line))
                except ValueError:
                    continue
        elif " " in arg and not arg.startswith("-") and not Path(arg).exists():
            REGISTRY.add(arg, "comment text")
    if isinstance(given, str | bytes):
        for line in (given.decode("utf-8", "replace") if isinstance(given, bytes) else given).splitlines():
            REGISTRY.add(line, "password or input")


def _http_clients() -> list[Any]:
    import importlib

    found = []
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def _install() -> None:
    from typer.testing import CliRunner

    import service.comments
    import service.users

    capture: Capture = _state["capture"]
    original_call = logging.Logger.callHandlers

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        capture.emit(record)
        original_call(self, record)

    def sending(send: Any) -> Any:
        def client_send(self: Any, request: Any, **kwargs: Any) -> Any:
            _record_request(request)
            response = send(self, request, **kwargs)
            _record_response(response)
            return response

        return client_send

    def async_sending(send: Any) -> Any:
        async def client_send(self: Any, request: Any, **kwargs: Any) -> Any:
            _record_request(request)
            response = await send(self, request, **kwargs)
            _record_response(response)
            return response

        return client_send

    decide = service.comments.decide

    @functools.wraps(decide)
    def recording_decide(policy: Any, submissions: Any, results: Any, **kwargs: Any) -> Any:
        for item in submissions:
            REGISTRY.add(item.text, "comment text")
            REGISTRY.add(item.author_id, "author id")
        return decide(policy, submissions, results, **kwargs)

    create_user = service.users.create_user

    @functools.wraps(create_user)
    def recording_create_user(session: Any, username: str, password: str, *args: Any, **kwargs: Any) -> Any:
        REGISTRY.add(password, "password")
        return create_user(session, username, password, *args, **kwargs)

    invoke = CliRunner.invoke

    def recording_invoke(self: CliRunner, app: Any, args: Any = None, input: Any = None, **kwargs: Any) -> Any:
        _record_command(args if isinstance(args, list | tuple) else str(args or "").split(), input)
        return invoke(self, app, args, input, **kwargs)

    popen_init = subprocess.Popen.__init__

    def recording_popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if isinstance(args, list | tuple) and "cli.main" in [str(a) for a in args]:
            _record_command(args)
        popen_init(self, args, *rest, **kwargs)

    patches: list[tuple[Any, str, Any]] = [(logging.Logger, "callHandlers", call_handlers),
                                           (service.comments, "decide", recording_decide),
               (service.users, "create_user", recording_create_user), (CliRunner, "invoke", recording_invoke),
               (subprocess.Popen, "__init__", recording_popen)]
    for client in _http_clients():  # httpx, and httpx2 (Starlette's TestClient)
        patches += [(client.Client, "send", sending(client.Client.send)),
                    (client.AsyncClient, "send", async_sending(client.AsyncClient.send))]
    _state["undo"] = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)


def pytest_configure(config: pytest.Config) -> None:
    if "capture" in _state:  # loaded twice (conftest and -p): once is enough
        return
    from cli.common import quiet_libraries

    folder = _state.get("folder") or Path(tempfile.mkdtemp(prefix="sift-logscan-"))
    _state["folder"] = folder
    _state["capture"] = Capture(folder)
    _state["root_level"] = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    quiet_libraries()  # the levels `sift serve` gives library loggers, whatever the root's
    _install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    capture: Capture | None = _state.get("capture")
    if capture is None or "leaks" in _state:
        return
    for owner, name, original in _state.get("undo", []):
        setattr(owner, name, original)
    capture.close()
    leaks = scan(read_lines(_state["folder"]), REGISTRY)
    _state["leaks"] = leaks
    _state["summary"] = (f"log scan: {capture.records} log records and {len(list(_state['folder'].glob('*.out')))} "
                         f"subprocess outputs checked for {len(REGISTRY)} values the tests sent")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        kept = os.environ.get("SIFT_LOGSCAN_KEEP")
        _state["kept"] = kept
        if kept:
            shutil.copytree(_state["folder"], kept, dirs_exist_ok=True)
    shutil.rmtree(_state["folder"], ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "summary" not in _state:
        return
    leaks: list[Leak] = _state["leaks"]
    if not leaks:
        terminalreporter.write_line(f"{_state['summary']}: no leak")
        return
    terminalreporter.section("log scan: sensitive values in the logs", sep="=", red=True)
    terminalreporter.write_line(f"{_state['summary']}: {len(leaks)} leaks (at most 50 shown)", red=True)
    for leak in leaks:
        terminalreporter.write_line(f"- {leak.kind} in {leak.where}: …{leak.excerpt}…")
    terminalreporter.write_line("set SIFT_LOGSCAN_KEEP=/some/folder to keep the captured logs"
                                + (f" (kept in {_state['kept']})" if _state.get("kept") else ""))
