"""Dynamic micro-batching: concurrent requests share one model call.

Requests put their texts on a queue and await a future. One task gathers whatever arrives
within ``wait_ms`` (up to ``max_batch`` texts), runs the pipeline once in a worker thread,
and hands each request its results. A request that arrives alone is not kept waiting. The
event loop never blocks on the model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from starlette.concurrency import run_in_threadpool

from model.pipeline import Pipeline
from model.result import Classification

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[list[Classification]]
    remember: bool = True  # False: the pipeline keeps nothing of these texts (model.pipeline's score cache)


class MicroBatcher:
    def __init__(self, pipeline: Callable[[], Pipeline], *, max_batch: int = 32, wait_ms: float = 2.0,
                 on_batch: Callable[[int], None] | None = None):
        self._pipeline = pipeline
        self.max_batch = max_batch
        self.wait = wait_ms / 1000
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._on_batch = on_batch
        self._in_flight = 0  # comments whose requests have arrived and not yet been answered

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def classify(self, texts: list[str], *, remember: bool = True) -> list[Classification]:
        """The pipeline's results for ``texts``; ``remember=False``: it keeps nothing of them once answered."""
        if len(texts) >= self.max_batch:  # a big batch is its own batch
            results: list[Classification] = await run_in_threadpool(self._classify_now, texts, [remember] * len(texts))
            if self._on_batch:
                self._on_batch(len(texts))
            return results
        future: asyncio.Future[list[Classification]] = asyncio.get_running_loop().create_future()
        self._in_flight += len(texts)
        try:
            await self._queue.put(_Job(texts, future, remember))
            return await future
        finally:
            self._in_flight -= len(texts)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            jobs, size = [first], len(first.texts)
            deadline = asyncio.get_running_loop().time() + self.wait
            while size < self.max_batch:
                if self._queue.empty() and self._in_flight <= size:
                    break  # nobody else is waiting: a lone request goes straight to the model
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                jobs.append(job)
                size += len(job.texts)
            texts = [t for job in jobs for t in job.texts]
            try:
                results = await run_in_threadpool(self._classify_now, texts, [job.remember for job in jobs for _ in job.texts])
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error, the batcher lives on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self._on_batch:
                self._on_batch(len(texts))
            offset = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(results[offset:offset + len(job.texts)])
                offset += len(job.texts)

    def _classify_now(self, texts: list[str], remember: list[bool]) -> list[Classification]:
        pipeline = self._pipeline()
        run = pipeline.classify_many if all(remember) else partial(pipeline.classify_many, remember=remember)
        return run(texts)
