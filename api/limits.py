"""Refuse bodies too large to be a valid batch before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from api.schemas import MAX_BATCH_ITEMS
from model.pipeline import MAX_TEXT_CHARS

# A full batch of maximum-length texts, 4 bytes a character at worst, plus room for the other fields.
MAX_BODY_BYTES = MAX_BATCH_ITEMS * (MAX_TEXT_CHARS * 4 + 2_000)


def too_large(length: int | None = None, limit: int = MAX_BODY_BYTES) -> dict[str, object]:
    """The 413 answer, whether the body said its length up front or streamed past the limit."""
    size = f"the body has {length} bytes" if length is not None else "the body went past the limit as it was sent"
    return {"error": f"{size}; the limit is {limit}",
            "details": [{"field": "body", "message": f"send at most {MAX_BATCH_ITEMS} items of at most {MAX_TEXT_CHARS} characters"}]}


class BodySizeLimit:
    """A body whose Content-Length is over the limit is refused before it is read; a chunked or unknown-length
    body is counted as it streams by FastAPI's ``max_body_size`` (api.main), with the same answer."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                body = json.dumps(too_large(int(length), self.limit)).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
