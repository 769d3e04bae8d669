"""Engines and sessions; nothing is created at import time.

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL``: the WAL is synced
at every commit, so a row the service has answered for survives a power cut or an OS crash, not only a
crash of the process (NORMAL's promise). The service shares one commit among concurrent requests (the
group writer), so the extra fsync is paid once a group, not once a comment. At shutdown the WAL is
checkpointed into the database file and truncated (:func:`checkpoint`), so a copy of ``sift.db`` taken
while the service is stopped holds every row.

A write waits for a lock at most :data:`SQLITE_BUSY_SECONDS` (another process holding SQLite's write
lock, say), not SQLite's 30 s: past that the write fails and the service keeps its rows in the outbox.

Two outside faults would otherwise crash the process or lose answered rows, so every statement on
SQLite first passes a :class:`SqliteGuard`:

- the ``-shm`` file (SQLite's shared-memory index of the WAL, mapped into memory) truncated from outside:
  the next read of the mapping kills the process with SIGBUS. The guard restores the file's size first
  (zeros: SQLite sees an invalid index and rebuilds it from the WAL), through the path or, when its
  permissions were taken away, through SQLite's own open descriptor (Linux ``/proc/self/fd``); if it
  cannot, the statement fails as an :class:`StorageFault` and nothing touches the mapping.
- the database file replaced under the running service (a read-only copy moved over it): SQLite in WAL
  mode would go on committing into the old, unlinked file. The guard sees the path now names another
  file and fails the statement, so the rows go to the outbox and the pool is reopened on the new file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import sessionmaker

logger = logging.getLogger(__name__)

SQLITE_BUSY_SECONDS = 2.0  # a request never waits longer than this for SQLite's lock; then outbox or 503
POSTGRES_CONNECT_SECONDS = 3  # an unreachable server costs a request this long, not the TCP time-out
SHM_CHUNK = 32768  # SQLite grows the -shm file in 32 KiB regions

_GUARDS: weakref.WeakKeyDictionary[Engine, SqliteGuard] = weakref.WeakKeyDictionary()


class StorageFault(Exception):
    """The storage engine's files were damaged or replaced from outside; the message is safe to show."""


def _fault(message: str) -> exc.OperationalError:
    return exc.OperationalError("storage guard", None, StorageFault(message), hide_parameters=True)


class SqliteGuard:
    """Checks, before each statement, that the database file is still the one opened and that its -shm
    file has not shrunk under the mapping (see the module's docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.shm = Path(f"{path}-shm")
        self._shm_size = 0
        self._lock = threading.Lock()

    def opened(self, info: dict[str, Any]) -> None:
        """A new connection opened the file now at the path; ``info`` is the connection's own record."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        info["sift_inode"] = (st.st_dev, st.st_ino)

    def check(self, info: dict[str, Any] | None = None) -> None:
        """Raise an OperationalError (wrapping a StorageFault) instead of letting SQLite meet a damaged file."""
        with self._lock:
            self._check_shm()
        opened = info.get("sift_inode") if info is not None else None
        if opened is not None:
            try:
                st = os.stat(self.path)
            except OSError:
                raise _fault("the database file was removed while the service had it open") from None
            if (st.st_dev, st.st_ino) != opened:
                raise _fault("the database file was replaced while the service had it open")

    def _check_shm(self) -> None:
        try:
            size = os.stat(self.shm).st_size
        except OSError:  # not there yet, or removed by SQLite when the last connection closed
            self._shm_size = 0
            return
        if size >= self._shm_size:
            self._shm_size = size
            return
        logger.error("the database's -shm file was truncated from outside (%d of %d bytes); restoring its size so "
                     "SQLite rebuilds its index instead of the process dying of SIGBUS", size, self._shm_size)
        if not self._restore_shm():
            raise _fault("the database's shared-memory (-shm) file was truncated and cannot be restored")

    def _restore_shm(self) -> bool:
        target = -(-self._shm_size // SHM_CHUNK) * SHM_CHUNK
        try:
            os.truncate(self.shm, target)
            return True
        except OSError:
            pass
        fd_dir = Path("/proc/self/fd")  # the permissions were taken away: SQLite's own descriptor can still write
        if fd_dir.is_dir():
            for fd in fd_dir.iterdir():
                try:
                    if os.readlink(fd) == str(self.shm.resolve()):
                        os.ftruncate(int(fd.name), target)
                        return True
                except (OSError, ValueError):
                    continue
        return False

    def damaged(self) -> bool:
        """Whether closing connections now would read a truncated mapping (and die of SIGBUS)."""
        try:
            self.check()
        except exc.OperationalError as error:
            return "shared-memory" in str(error.orig)
        return False


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        guard = None
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            guard = SqliteGuard(Path(path).absolute())
        # hide_parameters: a failing statement's error and log lines never carry comment texts or personal data.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            if guard is not None:
                guard.opened(_record.info)
                guard.check()
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
            cursor.execute("PRAGMA synchronous=FULL")  # an answered row survives a power cut (module docstring)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        if guard is not None:
            _GUARDS[engine] = guard

            @event.listens_for(engine, "before_cursor_execute")
            def _guard(conn, *_args):  # type: ignore[no-untyped-def]
                guard.check(conn.info)

        return engine
    connect_args = {"connect_timeout": POSTGRES_CONNECT_SECONDS} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)


def make_session_factory(engine: Engine) -> sessionmaker:  # type: ignore[type-arg]
    return sessionmaker(engine, expire_on_commit=False)


UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` is the database's state (down, locked, read-only, damaged), not the statement's fault:
    the same rows would go in once the database is back."""
    if isinstance(error, UNAVAILABLE):
        return True
    return isinstance(error, exc.DBAPIError) and bool(error.connection_invalidated)


def fault_reason(error: BaseException) -> str:
    """What is wrong with the database, in words safe for a log line or an admin: never a path, a
    statement or its parameters."""
    orig = getattr(error, "orig", None)
    if isinstance(orig, StorageFault):
        return str(orig)
    message = str(orig if orig is not None else error).lower()
    if "locked" in message or "busy" in message:
        return "the database is locked by another process"
    if "readonly" in message or "read-only" in message:
        return "the database is read-only"
    if "disk i/o" in message or "malformed" in message or "full" in message:
        return "the database cannot be written (disk I/O error or disk full)"
    if "unable to open" in message or "connect" in message or "connection" in message or "timeout" in message:
        return "the database is unreachable"
    return f"the database is unavailable ({type(orig if orig is not None else error).__name__})"


def probe_write(engine: Engine) -> str | None:
    """Whether the database would take a write now: None, or :func:`fault_reason`. On SQLite it takes the
    write lock and lets it go at once (``BEGIN IMMEDIATE``; a lock held by someone else for more than a
    second counts as locked); elsewhere a round trip."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                raw = conn.connection.dbapi_connection
                assert isinstance(raw, sqlite3.Connection)
                conn.exec_driver_sql("PRAGMA busy_timeout=1000")
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    raw.execute("ROLLBACK")
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
            else:
                conn.execute(text("SELECT 1"))
    except (sqlite3.Error, exc.DBAPIError, exc.SQLAlchemyError) as error:
        return fault_reason(error)
    return None


def reopen(engine: Engine) -> None:
    """Close the pool's connections so the next ones open the database afresh (a file swapped back, a
    read-only file made writable). Not while the -shm file is truncated: closing would read it."""
    guard = _GUARDS.get(engine)
    if guard is not None and guard.damaged():
        return
    engine.dispose()


def checkpoint(engine: Engine) -> None:
    """Move the WAL into the database file and truncate it (at shutdown): nothing is left only in the WAL."""
    if engine.dialect.name != "sqlite":
        return
    guard = _GUARDS.get(engine)
    if guard is not None and guard.damaged():
        logger.error("not checkpointing: the database's -shm file is damaged; the WAL is kept for the next start")
        return
    try:
        with engine.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if busy:
            logger.warning("the WAL checkpoint at shutdown was blocked by another connection; it completes at the next start")
    except exc.DBAPIError as error:
        logger.warning("the WAL checkpoint at shutdown failed: %s", fault_reason(error))
