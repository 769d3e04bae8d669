"""Security headers on every response: no sniffing, no referrer, never framed, forms post only here, and
a Content-Security-Policy under which only the page's own scripts run.

Each response gets a fresh nonce (``request.state.csp_nonce``); the review pages' templates put it on
their ``<script>`` elements, so those run and anything injected into a page (a comment's text is shown
there) does not: no other script, no inline event handler, no ``javascript:`` URL, no plugin, no
fetching from elsewhere. Styles may be inline (the pages use style attributes); they cannot run code.
"""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
CSP = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def content_security_policy(nonce: str) -> bytes:
    return CSP.format(nonce=nonce).encode()


class SecurityHeaders:
    """Pure ASGI middleware: adds each header the response does not already set."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce  # request.state.csp_nonce, for the templates

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                ours = (*SECURITY_HEADERS, (b"content-security-policy", content_security_policy(nonce)))
                message["headers"] = [*message.get("headers", []), *(h for h in ours if h[0] not in present)]
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
