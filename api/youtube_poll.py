"""Polling YouTube comments from a file or URL (``SIFT_YOUTUBE_POLL_SOURCE``), every ``SIFT_YOUTUBE_POLL_SECONDS``.

YouTube has no comment webhook: something with the channel's credentials calls ``commentThreads.list`` (say,
``allThreadsRelatedToChannelId=<channel>&part=snippet,replies``) and leaves the answer in a file or behind a
URL; sift reads it on a timer. Each read goes through :func:`api.inbound.ingest` like a webhook delivery, so a
comment read again on the next poll is "already seen" and decided once. Nothing is downloaded from the
internet by sift unless the configured URL points there.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.decider import app_decider
from api.inbound import Ingested, decode, ingest
from api.limits import MAX_BODY_BYTES
from service.platforms import youtube

logger = logging.getLogger(__name__)
FETCH_TIMEOUT_SECONDS = 10


class PollError(RuntimeError):
    """The source could not be read; the message says why, without its contents."""


def fetch(source: str) -> bytes:
    """The bytes at ``source`` (a file, or an http(s) URL), at most the largest body a webhook may send."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
                body: bytes = response.read(MAX_BODY_BYTES + 1)
        except OSError as exc:
            raise PollError(f"{source.split('?')[0]} could not be read ({type(exc).__name__})") from None
    else:
        try:
            with Path(source).open("rb") as file:
                body = file.read(MAX_BODY_BYTES + 1)
        except OSError as exc:
            raise PollError(f"{source} could not be read ({exc.strerror or type(exc).__name__})") from None
    if len(body) > MAX_BODY_BYTES:
        raise PollError(f"the answer at the source is over {MAX_BODY_BYTES} bytes; ask for fewer comments a page")
    return body


async def poll_once(app: FastAPI, source: str) -> Ingested:
    body = await run_in_threadpool(fetch, source)
    return await ingest("youtube", decode(body, youtube.parse), app_decider(app), app.state.session_factory, body=body,
                        content_type="application/json")


async def poll_forever(app: FastAPI, source: str, seconds: float) -> None:
    """The lifespan's task: one read now, then one every ``seconds``; a failed read is logged and tried next time."""
    while True:
        try:
            await poll_once(app, source)
        except asyncio.CancelledError:
            raise
        except PollError as exc:
            logger.warning("youtube poll: %s; trying again in %.0f s", exc, seconds)
        except Exception as exc:  # noqa: BLE001 - the database is down, say: the next poll reads the same comments
            logger.warning("youtube poll failed (%s); trying again in %.0f s", type(exc).__name__, seconds)
        await asyncio.sleep(seconds)
