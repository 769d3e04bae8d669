"""Group commit: the decisions of concurrent requests are written in one transaction.

Each request hands its comments and results to the writer and awaits its rows. One task
takes whatever is waiting (never waiting for more: a lone request is written at once),
applies the policy and stores every item in one session and one commit, in a worker
thread, then answers each request. If the group's transaction fails, each request is
retried on its own, so one bad request cannot cost the others their answer; unless the
database itself is unavailable (down, locked, read-only), when every request of the group
gets the error at once and its caller keeps the rows in the outbox (api.storage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.db.session import StorageFault, is_unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[Session], T]


@dataclass
class _Job(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T]


def stopped() -> exc.OperationalError:
    """The error for work handed to a writer that is stopping: the database's state as far as the caller is
    concerned (nothing was written; the same rows go in later), so the store keeps them in the outbox."""
    return exc.OperationalError("group writer", None, StorageFault("the service is shutting down"),
                                hide_parameters=True)


class GroupWriter:
    def __init__(self, session_factory: sessionmaker[Session], *, max_group: int = 64,
                 on_group: Callable[[int], None] | None = None):
        self._sessions = session_factory
        self.max_group = max_group
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()  # type: ignore[type-arg]
        self._task: asyncio.Task[None] | None = None
        self._on_group = on_group
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Write everything already handed over, then stop. Work handed over from now on is refused with
        :func:`stopped` (an outage, to :func:`service.db.session.is_unavailable`: the store keeps its rows in
        the outbox) instead of waiting for a writer that is gone."""
        self._stopping = True
        if self._task:
            await self._queue.put(None)
            await self._task
            self._task = None
        while not self._queue.empty():  # nothing is put after the sentinel, but no job may wait forever
            job = self._queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(stopped())

    async def run(self, work: Work[T]) -> T:
        """Run ``work(session)`` inside a shared transaction and return its result once committed.
        ``work`` must not commit; it may flush. Once the writer is stopping, raises :func:`stopped`."""
        if self._stopping or self._task is None:
            raise stopped()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(work, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self.max_group and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
            try:
                results = await run_in_threadpool(self._write_group, jobs)
            except Exception as exc:  # noqa: BLE001 - fall back to one transaction per request
                if is_unavailable(exc):  # the database's fault, not one request's: each alone would fail too,
                    while not self._queue.empty():  # and so would those queued meanwhile: none waits for it again
                        queued = self._queue.get_nowait()
                        if queued is None:
                            stopping = True
                            break
                        jobs.append(queued)
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                logger.warning("group write of %d requests failed; writing them one by one", len(jobs))
                for job in jobs:
                    try:
                        alone = await run_in_threadpool(self._write_group, [job])
                    except Exception as exc:  # noqa: BLE001 - this request alone gets the error
                        if not job.future.done():
                            job.future.set_exception(exc)
                    else:
                        if not job.future.done():
                            job.future.set_result(alone[0])
                continue
            if self._on_group:
                self._on_group(len(jobs))
            for job, result in zip(jobs, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)

    def _write_group(self, jobs: list[_Job]) -> list[object]:  # type: ignore[type-arg]
        with self._sessions() as session:
            try:
                results = [job.work(session) for job in jobs]
                session.commit()
            except Exception:
                session.rollback()
                raise
        return results
