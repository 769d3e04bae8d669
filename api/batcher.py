"""Dynamic micro-batching: concurrent requests share one model call.

Requests put their texts on a queue and await a future. One task gathers whatever arrives
within ``wait_ms`` (up to ``max_batch`` texts), runs the pipeline once in a worker thread,
and hands each request its results. A request that arrives alone is not kept waiting. The
event loop never blocks on the model.

A request may bring a step of its own (``then``: the policy, in :mod:`api.decider`) that runs on
its results in that same worker-thread call, so a request costs one hop off the event loop, not
two. A step that fails fails its own request only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from model.pipeline import Pipeline
from model.result import Classification

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _results(results: list[Classification]) -> list[Classification]:
    return results


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[Any]
    remember: bool = True  # False: the pipeline keeps nothing of these texts (model.pipeline's score cache)
    then: Callable[[list[Classification]], Any] = _results  # run on this job's results in the worker thread


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
        return await self.run(texts, _results, remember=remember)

    async def run(self, texts: list[str], then: Callable[[list[Classification]], T], *, remember: bool = True) -> T:
        """``then`` of the pipeline's results for ``texts``, computed in the worker thread that ran the model."""
        job = _Job(texts, asyncio.get_running_loop().create_future(), remember, then)
        if len(texts) >= self.max_batch:  # a big batch is its own batch
            outcome = (await run_in_threadpool(self._work, [job]))[0]
            if self._on_batch:
                self._on_batch(len(texts))
            return self._unwrap(outcome)
        self._in_flight += len(texts)
        try:
            await self._queue.put(job)
            result: T = await job.future
            return result
        finally:
            self._in_flight -= len(texts)

    @staticmethod
    def _unwrap(outcome: tuple[bool, Any]) -> Any:
        ok, value = outcome
        if not ok:
            raise value
        return value

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
            try:
                outcomes = await run_in_threadpool(self._work, jobs)
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error, the batcher lives on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self._on_batch:
                self._on_batch(size)
            for job, (ok, value) in zip(jobs, outcomes, strict=True):
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    def _work(self, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        """One model call for every job's texts, then each job's own step on its share: ``(True, value)``, or
        ``(False, exception)`` for a step that failed (the model failing fails them all, by raising)."""
        texts = [t for job in jobs for t in job.texts]
        remember = [job.remember for job in jobs for _ in job.texts]
        pipeline = self._pipeline()
        run = pipeline.classify_many if all(remember) else partial(pipeline.classify_many, remember=remember)
        results = run(texts)
        outcomes: list[tuple[bool, Any]] = []
        offset = 0
        for job in jobs:
            share = results[offset:offset + len(job.texts)]
            offset += len(job.texts)
            try:
                outcomes.append((True, job.then(share)))
            except Exception as exc:  # noqa: BLE001 - handed to that job's request, which answers with it
                outcomes.append((False, exc))
        return outcomes
