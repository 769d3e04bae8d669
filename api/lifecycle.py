"""Graceful shutdown: on SIGTERM finish what is in flight, answer 503 to the rest, never reset a caller.

Uvicorn alone, on SIGTERM, closes its listening socket at once: connections the kernel had already
accepted but uvicorn had not yet read are reset, and so are requests arriving on idle keep-alive
connections. So the app takes SIGTERM first (:func:`install`, from the lifespan, in each worker):

1. draining begins: every new request gets a JSON 503 with ``Retry-After`` and ``Connection: close``
   (``/healthz`` still answers: the process is alive); requests in flight go on, their answers also
   closing the connection;
2. after :data:`ACCEPT_SECONDS` (connections queued in the kernel are accepted and answered 503 meanwhile)
   the listener stops completing new connections (:mod:`api.listener`, when this process alone holds it);
   once nothing is in flight, the kernel's accept queue is empty and no request has come for
   :data:`QUIET_SECONDS` (uvicorn closes a connection it has accepted but not yet read, which resets its
   caller: while callers keep coming, one is always in that state), or at the grace period's end, whatever has not started answering is
   cut short with a 503 (except a request already storing its decision: that store is not abandoned, and
   the caller gets its real answer, see :meth:`api.storage.DurableStore.save`; a 503 would have it sent,
   and stored, twice), and uvicorn's own shutdown runs: the listener closes, the lifespan's shutdown
   flushes the group writer and the outbox and checkpoints the database.

A second SIGTERM (or SIGINT) goes straight to uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RETRY_AFTER_SECONDS
from api.listener import Closing

logger = logging.getLogger(__name__)

ACCEPT_SECONDS = 0.5  # after SIGTERM, keep accepting this long so queued connections get a 503, not a reset
QUIET_SECONDS = 0.25  # then wait for this long without a new request (up to the grace period) before closing
_REFUSAL = json.dumps({"error": "the service is shutting down; try again after Retry-After seconds (another "
                                "instance, or this one once restarted, will answer)", "details": []}).encode()


class Drain:
    """The shutdown state of one worker process."""

    def __init__(self) -> None:
        self.draining = False
        self.cut = False
        self.inflight: dict[asyncio.Task[Any], dict[str, bool]] = {}
        self.last_arrival = 0.0  # the event loop's time of the newest request refused while draining

    def begin(self, grace: float, then: Callable[[], None]) -> None:
        self.draining = True
        logger.info("SIGTERM: draining; %d requests in flight get up to %g s, new ones a 503", len(self.inflight), grace)
        asyncio.get_running_loop().create_task(self._finish(grace, then))

    async def _finish(self, grace: float, then: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await asyncio.sleep(min(ACCEPT_SECONDS, grace))
        listeners = Closing()
        listeners.refuse()  # no new connection completes from here (a sole listener only: api.listener)
        while ((self.inflight or loop.time() - self.last_arrival < QUIET_SECONDS or listeners.queued())
               and loop.time() < deadline):
            await asyncio.sleep(0.02)
        listeners.close()  # our duplicates only: the listener closes when the server closes it
        self.cut = True
        unstarted = [task for task, state in self.inflight.items() if not state["started"]]
        if unstarted:
            logger.warning("grace period over: %d requests in flight are answered 503", len(unstarted))
        for task in unstarted:
            task.cancel()
        then()


async def _refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"connection", b"close"), (b"content-length", str(len(_REFUSAL)).encode())]})
    await send({"type": "http.response.body", "body": _REFUSAL})


class Draining:
    """Pure ASGI middleware, outermost: refuses new requests while draining, tracks those in flight."""

    def __init__(self, app: ASGIApp, drain: Drain):
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        drain = self.drain
        if drain.draining:
            drain.last_arrival = asyncio.get_running_loop().time()
            await _refuse(send)
            return
        task = asyncio.current_task()
        assert task is not None
        state = {"started": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                if drain.draining:  # the caller's next request would find the server gone: say so now
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        drain.inflight[task] = state
        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not (drain.cut and not state["started"]):
                raise
            task.uncancel()
            await _refuse(send)
        finally:
            drain.inflight.pop(task, None)


def install(drain: Drain, grace: float) -> Callable[[], None]:
    """Take SIGTERM before the server does (call from the lifespan, in the worker's main thread); returns
    a function that puts the server's handler back. Outside the main thread (a test client) it does nothing."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return lambda: None
    if not callable(previous):
        return lambda: None

    loop = asyncio.get_running_loop()

    def on_term(sig: int, frame: FrameType | None) -> None:
        if drain.draining:
            previous(sig, frame)
            return
        drain.draining = True  # at once: a request read before the loop runs the drain is already refused
        loop.call_soon_threadsafe(drain.begin, grace, lambda: previous(sig, frame))

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return lambda: None

    def restore() -> None:
        try:
            if signal.getsignal(signal.SIGTERM) is on_term:
                signal.signal(signal.SIGTERM, previous)
        except ValueError:
            pass

    return restore
