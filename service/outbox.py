"""The outbox: rows the database could not take, kept on local disk until it can.

When the database is down, locked, read-only or damaged, the service still answers; the rows it would
have stored (:func:`service.comments.rows`, ids included) are appended to ``pending.jsonl`` in the data
folder, one JSON line per request, and synced to disk (``fsync``) before the caller is answered. When the
database is back they are written (:meth:`Outbox.replay`) and the file is removed.

Replaying is idempotent: every id was fixed before the first attempt, and a record already stored is
skipped with its offences and review item, so a replay cut short by a crash is simply done again.

The file holds comment texts (those bound for review): it is created with mode 0600 in a 0700 folder,
and neither its lines nor its path's contents are ever logged.

Why a hand-written file and not a queue library: the rows must survive exactly the faults that stop the
database, so the outbox cannot be SQLite (``persist-queue``'s durable queue is; its file queue pickles).
An append-only JSON Lines file with ``fsync`` is the whole mechanism, readable with any tool.

    outbox = Outbox(data_dir / "outbox")
    outbox.append(rows)                # durable when it returns
    outbox.replay(session_factory)     # raises, keeping everything, if the database is still down
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.comments import Rows, insert_rows
from service.db.models import ClassificationRecord
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


class Outbox:
    """An append-only, fsynced JSON Lines file of rows waiting for the database. Thread-safe."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        self.pending = folder / "pending.jsonl"
        self.replaying = folder / "replaying.jsonl"  # taken from pending for a replay; removed once written
        self._lock = threading.Lock()  # appends, and the swap of pending for replaying
        self._replay_lock = threading.Lock()  # one replay at a time
        self._depth = sum(len(entry["rows"].get(_RECORDS, [])) for path in (self.replaying, self.pending)
                          for entry in self._read(path))

    @property
    def depth(self) -> int:
        """Comments waiting to be stored."""
        return self._depth

    def append(self, rows: Rows) -> None:
        """Keep ``rows`` on disk; durable when this returns."""
        line = (json.dumps({"rows": rows}, default=_encode, separators=(",", ":")) + "\n").encode()
        with self._lock:
            created = not self.pending.exists()
            fd = os.open(self.pending, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.folder)
            self._depth += len(rows.get(_RECORDS, []))

    def replay(self, sessions: sessionmaker[Session]) -> int:
        """Write every pending row to the database; return how many comments were stored. Raises (keeping
        what is not yet written) if the database still fails; call again later."""
        written = 0
        with self._replay_lock:
            while True:
                with self._lock:
                    if not self.replaying.exists():
                        if not self.pending.exists():
                            return written
                        os.replace(self.pending, self.replaying)
                        _fsync_dir(self.folder)
                entries = list(self._read(self.replaying, set_aside=True))
                for start in range(0, len(entries), REPLAY_GROUP):
                    group = entries[start:start + REPLAY_GROUP]
                    with sessions() as session:
                        erased = erased_authors(session)
                        for entry in group:
                            rows, dropped = without_erased(entry["rows"], erased)
                            if dropped:
                                logger.info("dropped %d comments from the outbox: their authors were erased", dropped)
                            insert_rows(session, rows, skip_existing=True)
                        session.commit()
                count = sum(len(entry["rows"].get(_RECORDS, [])) for entry in entries)
                with self._lock:
                    self.replaying.unlink()
                    _fsync_dir(self.folder)
                    self._depth = max(0, self._depth - count)
                written += count
                logger.info("stored %d comments kept in the outbox while the database was unavailable", count)

    def _read(self, path: Path, *, set_aside: bool = False) -> Iterator[dict[str, Any]]:
        """The entries of ``path``. A line cut short (a crash during an append, never answered) is skipped."""
        if not path.exists():
            return
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    entry = json.loads(raw, object_hook=_decode)
                except ValueError:
                    # Cut short by a crash during the append (that request was never answered), or damaged: kept
                    # aside for a person to look at, never silently dropped.
                    if not set_aside:
                        continue
                    with self._lock:
                        fd = os.open(self.folder / "unreadable.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                        try:
                            os.write(fd, raw if raw.endswith(b"\n") else raw + b"\n")
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                    logger.warning("outbox line %d cannot be read (cut short by a crash?); moved to unreadable.jsonl",
                                   number)
                    continue
                yield entry

