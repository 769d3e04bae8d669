"""Storing decisions so that none is lost: the database when it takes them, else the outbox.

``save(rows)`` hands the rows to the group writer and answers ``"committed"`` once they are; if the
database is unavailable (down, locked past SQLite's short busy time-out, read-only, its files damaged)
the rows are appended to the durable outbox (:mod:`service.outbox`) and it answers ``"pending"``. While
the outbox holds anything, new rows go straight to it (no request waits on a database known to fail,
and rows are stored in the order they were answered); a background task writes them to the database,
retrying with a backoff of 0.5 s doubling to 5 s, and reopening the database's connections before
each try. The outbox is also written at start-up and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.writer import GroupWriter
from service.comments import Rows, insert_rows
from service.db.session import fault_reason, is_unavailable, reopen
from service.outbox import Outbox

logger = logging.getLogger(__name__)

Stored = Literal["committed", "pending"]
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


class NotStored(Exception):
    """Neither the database nor the outbox could keep the rows; the message is safe to show."""


class DurableStore:
    def __init__(self, writer: GroupWriter, outbox: Outbox, sessions: sessionmaker[Session], engine: Engine):
        self.writer = writer
        self.outbox = outbox
        self._sessions = sessions
        self._engine = engine
        self.fault: str | None = None  # why the database is not taking writes, in words safe to show an admin
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self.outbox.depth

    @property
    def rejected(self) -> int:
        """Comments the database refused on their own when the outbox was written (see :class:`Outbox`)."""
        return self.outbox.rejected

    async def save(self, rows: Rows) -> Stored:
        """Store ``rows``; the answer is the real outcome even if the request is cancelled meanwhile.

        Once begun, a save runs to its end: cancelling it (the shutdown's grace ending, see api.lifecycle)
        would only stop the wait while the writer commits, or the outbox keeps, the rows anyway, and a caller
        told "try again" would have them stored twice (an offence counted twice). So the first cancellation
        is absorbed and the caller gets the outcome; a second one (a forced stop) goes through, the save
        still finishing on its own."""
        saving = asyncio.ensure_future(self._save(rows))
        try:
            return await asyncio.shield(saving)
        except asyncio.CancelledError:
            if saving.cancelled():
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return await asyncio.shield(saving)

    async def _save(self, rows: Rows) -> Stored:
        if self.outbox.depth == 0:
            try:
                await self.writer.run(partial(insert_rows, rows=rows))
                return "committed"
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._note(exc)
        try:
            await run_in_threadpool(self.outbox.append, rows)
        except OSError as exc:
            logger.error("the outbox cannot be written either (%s); the request is refused", type(exc).__name__)
            raise NotStored(f"{self.fault or 'the database is catching up'}, and the local outbox cannot be "
                            "written") from None
        self._wake.set()
        return "pending"

    def _note(self, exc: BaseException) -> None:
        reason = fault_reason(exc)
        if reason != self.fault:
            logger.warning("the database is not taking writes (%s); keeping rows in the outbox", reason)
        self.fault = reason

    def start(self) -> None:
        if self.outbox.depth:
            logger.info("%d comments are waiting in the outbox from before; storing them", self.outbox.depth)
            self._wake.set()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop retrying, then write the outbox once more (what the database still refuses stays for the next start)."""
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.outbox.depth:
            await self.flush()
            if self.outbox.depth:
                logger.warning("%d comments stay in the outbox until the next start (%s)", self.outbox.depth, self.fault)

    async def flush(self) -> bool:
        """One attempt to write the outbox to the database; True when it is empty."""
        try:
            await run_in_threadpool(self._replay)
        except Exception as exc:
            if not is_unavailable(exc):
                logger.exception("the outbox could not be written to the database")
                return False
            self._note(exc)
            return False
        if self.outbox.depth == 0 and self.fault:
            logger.info("the database takes writes again; the outbox is empty")
            self.fault = None
        return self.outbox.depth == 0

    def _replay(self) -> None:
        reopen(self._engine)  # a file made writable or swapped back is only seen by new connections
        self.outbox.replay(self._sessions)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            if self.outbox.depth == 0:
                self._wake.clear()
                await self._wake.wait()
                await asyncio.sleep(delay)  # the database has just failed: give it a moment
            if await self.flush():
                delay = RETRY_FIRST_SECONDS
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
