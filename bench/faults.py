"""The fault table: each storage fault injected into a running ``sift serve``, what callers saw, and the rows.

    python -m bench.faults                      # SQLite faults and SIGTERM under load
    SIFT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python -m bench.faults   # + PostgreSQL down

For each fault: a server starts on a fresh data folder (rules only, so it starts in a second), answers a few
comments, the fault is injected, more comments are sent, the fault is lifted, and the service is given
time to write its outbox. Rows: *answered* (200s), *stored* (those ids in the database afterwards),
*pending* (still in the outbox), *lost* (answered, neither stored nor pending: must be 0).

The scenarios are also the subprocess tests in ``tests/api/test_faults.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT = 20.0  # a request held by a lock for SQLite's old 30 s busy time-out would fail it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``sift serve`` in a subprocess, on its own data folder."""

    data_dir: Path
    database_url: str = ""
    grace: float = 10.0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "sift.db"

    def start(self) -> Server:
        from tests.serving import wait_until_healthy

        env = {**os.environ, "PYTHONPATH": str(REPO), "SIFT_DATA_DIR": str(self.data_dir), "SIFT_SECRET_KEY": "faults",
               "SIFT_MODEL_DIR": str(self.data_dir / "no-model"), "SIFT_MODEL_POLL_SECONDS": "0",
               "SIFT_LOG_LEVEL": "INFO", "SIFT_SHUTDOWN_GRACE_SECONDS": str(self.grace),
               "SIFT_DATABASE_URL": self.database_url}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / "server.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)],
                                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_healthy(self.base, tries=300, process=self.process, log=self.log)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def ready(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/readyz", timeout=CLIENT_TIMEOUT).json())

    def wait_drained(self, timeout: float = 30) -> int:
        """Poll /readyz (loopback: details shown) until the outbox is empty; the depth left."""
        deadline = time.monotonic() + timeout
        pending = -1
        while time.monotonic() < deadline:
            pending = int(self.ready().get("outbox_pending", 0))
            if pending == 0:
                return 0
            time.sleep(0.25)
        return pending


@dataclass
class Outcome:
    """What one caller saw."""

    kind: str  # "200 committed", "200 pending", "503 json", "refused", "reset", "timeout", "<status> other"
    record_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0


def classify(base: str, text: str, client: httpx.Client | None = None) -> Outcome:
    started = time.monotonic()
    try:
        answer = (client or httpx).post(f"{base}/classify", json={"text": text, "channel": "facebook"},  # type: ignore[attr-defined]
                                        timeout=CLIENT_TIMEOUT)
    except httpx.ConnectError:
        return Outcome("refused", seconds=time.monotonic() - started)
    except httpx.TimeoutException:
        return Outcome("timeout", seconds=time.monotonic() - started)
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
        return Outcome("reset", seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    if answer.status_code == 200:
        body = answer.json()
        return Outcome(f"200 {body.get('stored', 'committed')}", [body["record_id"]], seconds)
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    if answer.status_code == 503 and is_json and "retry-after" in answer.headers:
        return Outcome("503 json", seconds=seconds)
    return Outcome(f"{answer.status_code} {'json' if is_json else answer.headers.get('content-type')}", seconds=seconds)


def classify_plainly(port: int, text: str) -> Outcome:
    """:func:`classify` through http.client, a fresh connection each: light enough that a few threads keep
    connections arriving every few hundred microseconds (httpx, heavier, leaves gaps a shutdown can wait for)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("POST", "/classify", json.dumps({"text": text, "channel": "facebook"}),
                           {"Content-Type": "application/json"})
        answer = connection.getresponse()
        raw = answer.read()
    except ConnectionRefusedError:
        return Outcome("refused", seconds=time.monotonic() - started)
    except TimeoutError:
        return Outcome("timeout", seconds=time.monotonic() - started)
    except (ConnectionError, http.client.HTTPException):  # reset, or closed before an answer
        return Outcome("reset", seconds=time.monotonic() - started)
    finally:
        connection.close()
    seconds = time.monotonic() - started
    is_json = (answer.getheader("content-type") or "").startswith("application/json")
    if answer.status == 200:
        body = json.loads(raw)
        return Outcome(f"200 {body.get('stored', 'committed')}", [body["record_id"]], seconds)
    if answer.status == 503 and is_json and answer.getheader("retry-after"):
        return Outcome("503 json", seconds=seconds)
    return Outcome(f"{answer.status} {'json' if is_json else answer.getheader('content-type')}", seconds=seconds)


def send(base: str, count: int, *, concurrency: int = 8, tag: str = "") -> list[Outcome]:
    texts = [f"The lift at Block {tag}{i} is broken again, when will it be fixed?" for i in range(count)]
    with httpx.Client() as client, ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda t: classify(base, t, client), texts))


def stored_ids(database_url: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` are in the classifications table (read through a fresh connection)."""
    from sqlalchemy import create_engine, select

    from service.db.models import ClassificationRecord

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                found.update(conn.scalars(select(ClassificationRecord.id).where(ClassificationRecord.id.in_(chunk))))
            return found
    finally:
        engine.dispose()


def outbox_ids(data_dir: Path) -> set[str]:
    ids: set[str] = set()
    for name in ("replaying.jsonl", "pending.jsonl"):
        path = data_dir / "outbox" / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    ids.update(r["id"] for r in json.loads(line)["rows"].get("classifications", []))
    return ids


@dataclass
class Row:
    fault: str
    callers: Counter[str]
    answered: int
    stored: int
    pending: int
    lost: int
    alive: bool
    notes: str = ""

    @staticmethod
    def header() -> str:
        return (f"| {'fault':<44} | {'callers saw':<58} | answered | stored | pending | lost | alive | notes |\n"
                f"|{'-' * 46}|{'-' * 60}|----------|--------|---------|------|-------|-------|")

    def line(self) -> str:
        seen = ", ".join(f"{n} {k}" for k, n in sorted(self.callers.items()))
        return (f"| {self.fault:<44} | {seen:<58} | {self.answered:>8} | {self.stored:>6} | {self.pending:>7} | "
                f"{self.lost:>4} | {'yes' if self.alive else 'NO':>5} | {self.notes} |")


def tally(fault: str, outcomes: list[Outcome], database_url: str, data_dir: Path, alive: bool, notes: str = "") -> Row:
    answered = [rid for o in outcomes for rid in o.record_ids]
    stored = stored_ids(database_url, answered)
    pending = outbox_ids(data_dir) - stored
    lost = set(answered) - stored - pending
    return Row(fault, Counter(o.kind for o in outcomes), len(answered), len(stored), len(pending), len(lost), alive, notes)


def db_state(ready: dict[str, Any]) -> str:
    """What /readyz said of the database (its status is degraded anyway here: the servers run on rules alone)."""
    db = ready.get("components", {}).get("database", {})
    return "database ok" if db.get("ok") else f"database: {str(db.get('detail', '?')).split(';')[0]}"


def _slowest(outcomes: list[Outcome]) -> str:
    return f"slowest answer {max(o.seconds for o in outcomes):.2f} s"


# --- the faults -------------------------------------------------------------------------------------------


def sqlite_locked(folder: Path, during: int = 20) -> Row:
    """Another process holds SQLite's write lock (BEGIN EXCLUSIVE) while comments arrive; then lets go."""
    server = Server(folder).start()
    try:
        before = send(server.base, 5, tag="a")
        locker = sqlite3.connect(server.db_path, timeout=5, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            seen = server.ready()
            under = send(server.base, during, tag="b")
            seen_after = server.ready()
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        left = server.wait_drained()
        after = send(server.base, 5, tag="c")
        outcomes = before + under + after
        alive = server.alive()
        row: tuple[Any, ...] = ("SQLite locked by another process", outcomes, f"sqlite:///{server.db_path}", folder, alive,
                     f"readyz: {db_state(seen)} / {db_state(seen_after)}; {_slowest(under)}; outbox left {left}")
    finally:
        server.stop()  # stored is counted once the server is gone: nothing left only in its WAL
    return tally(*row)


def sqlite_shm_truncated(folder: Path, during: int = 20) -> Row:
    """The -shm file truncated and made read-only under the running service (it died of SIGBUS)."""
    server = Server(folder).start()
    try:
        before = send(server.base, 5, tag="a")
        shm = Path(f"{server.db_path}-shm")
        os.truncate(shm, 0)
        shm.chmod(0o444)
        try:
            under = send(server.base, during, tag="b")
            seen = server.ready()
        finally:
            shm.chmod(0o644)
        left = server.wait_drained()
        after = send(server.base, 5, tag="c")
        alive = server.alive()
        row: tuple[Any, ...] = ("SQLite -shm truncated and made unwritable", before + under + after, f"sqlite:///{server.db_path}",
                     folder, alive, f"readyz: {db_state(seen)}; outbox left {left}")
    finally:
        server.stop()  # stored is counted once the server is gone: nothing left only in its WAL
    return tally(*row)


def sqlite_swapped_read_only(folder: Path, during: int = 20) -> Row:
    """A consistent read-only copy of the database moved over the file the service has open; later made writable."""
    server = Server(folder).start()
    try:
        before = send(server.base, 5, tag="a")
        copy = folder / "copy.db"
        with sqlite3.connect(server.db_path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        source.close()
        target.close()
        copy.chmod(0o444)
        os.replace(copy, server.db_path)
        under = send(server.base, during, tag="b")
        seen = server.ready()
        server.db_path.chmod(0o644)
        left = server.wait_drained()
        after = send(server.base, 5, tag="c")
        alive = server.alive()
        row: tuple[Any, ...] = ("SQLite file swapped for a read-only copy", before + under + after, f"sqlite:///{server.db_path}",
                     folder, alive, f"readyz: {db_state(seen)}; outbox left {left}")
    finally:
        server.stop()  # stored is counted once the server is gone: nothing left only in its WAL
    return tally(*row)


class Proxy:
    """A TCP relay in front of PostgreSQL that can be cut (the database 'down') and restored."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"sift_faults_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_down(folder: Path, admin_url: str, during: int = 20) -> Row:
    """PostgreSQL unreachable (its connections cut and refused) while comments arrive; then back."""
    from sqlalchemy.engine import make_url

    with postgres_database(admin_url) as url:
        real = make_url(url)
        proxy = Proxy((real.host or "127.0.0.1", real.port or 5432))
        proxy.up()
        via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        server = Server(folder, database_url=via_proxy).start()
        try:
            before = send(server.base, 5, tag="a")
            proxy.down()
            under = send(server.base, during, tag="b")
            seen = server.ready()
            proxy.up()
            left = server.wait_drained()
            after = send(server.base, 5, tag="c")
            alive = server.alive()
            row: tuple[Any, ...] = ("PostgreSQL down (connections cut, refused)", before + under + after, url, folder,
                         alive, f"readyz: {db_state(seen)}; {_slowest(under)}; outbox left {left}")
        finally:
            server.stop()  # stored is counted once the server is gone: nothing left only in its WAL
            proxy.down()
        return tally(*row)


def sigterm_under_load(folder: Path, total: int = 100, spread: float = 2.0, signal_at: float = 1.0) -> Row:
    """``total`` callers (a fresh connection each) starting evenly over ``spread`` seconds; SIGTERM at ``signal_at``.
    Those in flight should finish (200), later ones get a 503 while the server drains, then are refused."""
    server = Server(folder).start()
    assert server.process is not None
    started = time.monotonic()

    def one(i: int) -> Outcome:
        time.sleep(max(0.0, started + i * spread / total - time.monotonic()))
        return classify(server.base, f"Nobody came to fix the boiler at flat {i}, third time asking")

    try:
        with ThreadPoolExecutor(total) as pool:
            futures = [pool.submit(one, i) for i in range(total)]
            time.sleep(max(0.0, started + signal_at - time.monotonic()))
            server.process.send_signal(signal.SIGTERM)
            outcomes = [f.result() for f in futures]
        code = server.process.wait(60)
    finally:
        server.stop()
    return tally(f"SIGTERM during {total} concurrent requests", outcomes, f"sqlite:///{server.db_path}", folder,
                 True, f"exit code {code} (uvicorn re-raises SIGTERM); {_slowest(outcomes)}")


def sigterm_under_a_stream(folder: Path, callers: int = 16, grace: float = 2.0, after: float = 1.5) -> Row:
    """``callers`` loops each sending one request after another (a fresh connection each) without pause,
    before, through and past a SIGTERM: no quiet moment comes, so the listener closes while connections
    keep arriving. Before the listener stopped taking new connections first, each run reset about one
    caller per loop."""
    server = Server(folder, grace=grace).start()
    assert server.process is not None
    stop = threading.Event()

    def loop(n: int) -> list[Outcome]:
        outcomes = []
        for i in range(1_000_000):
            if stop.is_set():
                break
            outcome = classify_plainly(server.port, f"The boiler at flat {n}-{i} is broken again, third time asking")
            outcomes.append(outcome)
            if outcome.kind == "refused":
                time.sleep(0.05)
        return outcomes

    try:
        with ThreadPoolExecutor(callers) as pool:
            futures = [pool.submit(loop, n) for n in range(callers)]
            time.sleep(1.0)
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(60)
            time.sleep(after)  # callers go on meeting the closed port
            stop.set()
            outcomes = [o for f in futures for o in f.result()]
    finally:
        stop.set()
        server.stop()
    return tally(f"SIGTERM during {callers} unbroken streams", outcomes, f"sqlite:///{server.db_path}", folder,
                 True, f"exit code {code}; {_slowest(outcomes)}")


def run(scenario: Callable[..., Row], *args: Any) -> Row:
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"sift-faults-{uuid.uuid4().hex[:8]}"
    try:
        return scenario(folder, *args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    from bench.common import machine

    print(f"# fault table ({machine()})\n")
    rows = [run(sqlite_locked), run(sqlite_swapped_read_only), run(sqlite_shm_truncated)]
    admin = os.environ.get("SIFT_TEST_POSTGRES_URL")
    if admin:
        rows.append(run(postgres_down, admin))
    rows.append(run(sigterm_under_load))
    rows.append(run(sigterm_under_a_stream))
    print(Row.header())
    for row in rows:
        print(row.line())
    if not admin:
        print("\n(PostgreSQL down: set SIFT_TEST_POSTGRES_URL to include it)")


if __name__ == "__main__":
    main()
