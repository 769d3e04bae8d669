"""Security headers on every response: no sniffing, no referrer, never framed, forms post only here.

The review pages' own inline scripts (keyboard shortcuts) still run: a script-src with per-request
nonces is the next step (issue 12), not taken here.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"),
)


class SecurityHeaders:
    """Pure ASGI middleware: adds each header the response does not already set."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Wrap the whole app, outside even Starlette's error middleware (a crash's 500) and FastAPI's body
    limit (a 413 on Content-Length), which run before any ``add_middleware`` middleware and would answer
    without the headers."""
    build = app.build_middleware_stack

    def with_headers_outermost() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = with_headers_outermost  # type: ignore[method-assign]
