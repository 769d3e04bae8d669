"""The outbox: rows the database could not take, kept on local disk until it can.

When the database is down, locked, read-only or damaged, the service still answers; the rows it would
have stored (:func:`service.comments.rows`, ids included) are appended to ``pending.jsonl`` in the data
folder, one JSON line per request, and synced to disk (``fsync``) before the caller is answered. When the
database is back they are written (:meth:`Outbox.replay`) and the file is removed.

Replaying is idempotent: every id was fixed before the first attempt, and a record already stored is
skipped with its offences and review item, so a replay cut short by a crash is simply done again.

Nothing in it is silently dropped, and nothing in it blocks the rest:

- a line cut short (the process died inside a write, before the caller was answered) or otherwise not an
  entry is copied once to ``unreadable.jsonl``; the next append starts on a line of its own;
- an entry the database refuses on its own for a reason other than an outage (a constraint, a value it
  cannot hold) is moved to ``rejected.jsonl`` (:attr:`Outbox.rejected` counts its comments) and the
  entries behind it are written.

The file holds comment texts (those bound for review): it is created with mode 0600 in a 0700 folder,
and neither its lines nor its path's contents are ever logged.

Why a hand-written file and not a queue library: the rows must survive exactly the faults that stop the
database, so the outbox cannot be SQLite (``persist-queue``'s durable queue is; its file queue pickles).
An append-only JSON Lines file with ``fsync`` is the whole mechanism, readable with any tool.

    outbox = Outbox(data_dir / "outbox")
    outbox.append(rows)                # durable when it returns
    outbox.replay(session_factory)     # raises, keeping everything, if the database is still down
    outbox.depth, outbox.rejected      # comments waiting; comments set aside because the database refused them
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.comments import Rows, insert_rows
from service.db.models import ClassificationRecord
from service.db.session import is_unavailable
from service.erasure import erased_authors, without_erased

logger = logging.getLogger(__name__)

REPLAY_GROUP = 64  # requests' rows written in one transaction when replaying
_RECORDS = ClassificationRecord.__tablename__


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot keep a {type(value).__name__} in the outbox")


def _decode(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and "$datetime" in obj:
        return datetime.fromisoformat(obj["$datetime"])
    return obj


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created 0600) as whole lines, synced to disk when this returns; or raise
    OSError, leaving the file as it was.

    A file whose last line was cut short (the process died inside a write) gets a line break first, so the
    new line is not glued onto the torn one (which replay then sets aside on its own). ``os.write`` may
    write less than asked (a disk filling up): it is called until everything is written, and a write that
    cannot go on raises; the part written is then cut off again, so a caller told "not stored" never finds
    the line stored later."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(f"the outbox file took no more bytes ({len(view)} of {len(data)} left)")
                view = view[written:]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError:
                pass  # what is left is a line without its end: replay sets it aside
            raise
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _comments(rows: Rows) -> int:
    return len(rows.get(_RECORDS, []))


@dataclass(frozen=True)
class _Entry:
    raw: bytes  # the line as it is in the file, without its line break
    rows: Rows


def _parse(raw: bytes) -> Rows | None:
    """The rows of one outbox line, or None if it is not an outbox entry (cut short, or damaged)."""
    try:
        entry = json.loads(raw, object_hook=_decode)
    except ValueError:
        return None
    rows = entry.get("rows") if isinstance(entry, dict) else None
    if not isinstance(rows, dict) or not all(isinstance(table, list) and all(isinstance(r, dict) for r in table)
                                             for table in rows.values()):
        return None
    return rows


class _SetAside:
    """A file of outbox lines kept for a person to look at (``unreadable.jsonl``, ``rejected.jsonl``): each line
    is kept once, however often a replay meets it again."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: set[bytes] = set()
        self.comments = 0
        if path.exists():
            with path.open("rb") as handle:
                for raw in handle:
                    self._note(raw.rstrip(b"\n"))

    def _note(self, raw: bytes) -> None:
        self._seen.add(hashlib.sha256(raw).digest())
        rows = _parse(raw)
        self.comments += _comments(rows) if rows is not None else 0

    def keep(self, raw: bytes) -> bool:
        """Append ``raw`` unless it is there already; whether it was new."""
        if not raw or hashlib.sha256(raw).digest() in self._seen:
            return False
        _append_durably(self.path, raw + b"\n")
        self._note(raw)
        return True


class Outbox:
    """An append-only, fsynced JSON Lines file of rows waiting for the database. Thread-safe."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        self.pending = folder / "pending.jsonl"
        self.replaying = folder / "replaying.jsonl"  # taken from pending for a replay; removed once written
        self._lock = threading.Lock()  # appends, the swap of pending for replaying, the set-aside files
        self._replay_lock = threading.Lock()  # one replay at a time
        self._unreadable = _SetAside(folder / "unreadable.jsonl")
        self._rejected = _SetAside(folder / "rejected.jsonl")
        self._depth = self._count()

    @property
    def depth(self) -> int:
        """Comments waiting to be stored."""
        return self._depth

    @property
    def rejected(self) -> int:
        """Comments the database refused on their own (not an outage: a constraint, a value it cannot hold),
        kept in ``rejected.jsonl`` for a person to look at; they are not retried."""
        return self._rejected.comments

    def append(self, rows: Rows) -> None:
        """Keep ``rows`` on disk; durable when this returns. Raises OSError (nothing kept) if it cannot be."""
        line = (json.dumps({"rows": rows}, default=_encode, separators=(",", ":")) + "\n").encode()
        with self._lock:
            _append_durably(self.pending, line)
            self._depth += _comments(rows)

    def replay(self, sessions: sessionmaker[Session]) -> int:
        """Write every pending row to the database; return how many comments were taken from the outbox
        (stored, or dropped because their author was erased meanwhile). Raises (keeping what is not yet
        written) if the database is still unavailable; call again later. An entry the database refuses on
        its own for another reason is moved to ``rejected.jsonl`` (:attr:`rejected`) and the rest goes on."""
        written = 0
        with self._replay_lock:
            try:
                while True:
                    with self._lock:
                        if not self.replaying.exists():
                            if not self.pending.exists():
                                return written
                            os.replace(self.pending, self.replaying)
                            _fsync_dir(self.folder)
                    entries = list(self._entries(self.replaying))
                    count = 0
                    for start in range(0, len(entries), REPLAY_GROUP):
                        count += self._write(sessions, entries[start:start + REPLAY_GROUP])
                    with self._lock:
                        self.replaying.unlink()
                        _fsync_dir(self.folder)
                    written += count
                    logger.info("stored %d comments kept in the outbox while the database was unavailable", count)
            finally:
                with self._lock:  # what is in the files, not a running sum: a line set aside never counted
                    self._depth = self._count()

    def _write(self, sessions: sessionmaker[Session], group: list[_Entry]) -> int:
        """Write ``group`` in one transaction or, if the database refuses it for a reason other than an
        outage, each entry alone, setting aside those it refuses; how many comments were taken."""
        try:
            return self._commit(sessions, group)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            if len(group) > 1:
                logger.warning("%d outbox entries could not be written together (%s); writing them one by one",
                               len(group), type(exc).__name__)
        taken = 0
        for entry in group:
            try:
                taken += self._commit(sessions, [entry])
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                with self._lock:
                    self._rejected.keep(entry.raw)
                logger.warning("the database refused %d comments from the outbox (%s); moved to rejected.jsonl "
                               "for a person to look at", _comments(entry.rows), type(exc).__name__)
        return taken

    @staticmethod
    def _commit(sessions: sessionmaker[Session], group: list[_Entry]) -> int:
        with sessions() as session:
            erased = erased_authors(session)
            for entry in group:
                rows, dropped = without_erased(entry.rows, erased)
                if dropped:
                    logger.info("dropped %d comments from the outbox: their authors were erased", dropped)
                insert_rows(session, rows, skip_existing=True)
            session.commit()
        return sum(_comments(entry.rows) for entry in group)

    def _count(self) -> int:
        return sum(_comments(rows) for path in (self.replaying, self.pending) for _, rows in self._lines(path)
                   if rows is not None)

    def _entries(self, path: Path) -> Iterator[_Entry]:
        """The entries of ``path``. A line that cannot be read (cut short by a crash during an append, whose
        request was never answered; or damaged) is copied to ``unreadable.jsonl`` once, for a person to look
        at, never silently dropped."""
        for number, (raw, rows) in enumerate(self._lines(path), start=1):
            if rows is not None:
                yield _Entry(raw, rows)
                continue
            with self._lock:
                new = self._unreadable.keep(raw)
            if new:
                logger.warning("outbox line %d cannot be read (cut short by a crash?); copied to unreadable.jsonl",
                               number)

    @staticmethod
    def _lines(path: Path) -> Iterator[tuple[bytes, Rows | None]]:
        if not path.exists():
            return
        with path.open("rb") as handle:
            for line in handle:
                raw = line.rstrip(b"\n")
                if raw:
                    yield raw, _parse(raw)
