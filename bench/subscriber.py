"""A real webhook subscriber on 127.0.0.1, for the events tests and bench/events_outage.py.

It verifies every request with the Standard Webhooks reference library (``standardwebhooks.Webhook.verify``),
records what it received, and can be down in two ways: its port closed (``stop()``: connections are refused)
or answering an error status (``status = 503``); or it can keep each event but answer too late
(``delay`` past the sender's time-out), so the sender tries again and the event arrives twice, with one id.

    subscriber = Subscriber(secret)          # a port is chosen now, so the URL can go in the events file
    subscriber.start(); subscriber.status = 503; ...; subscriber.status = 200
    subscriber.received                       # Received(event_id, type, verified), one per 2xx answer
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    verified: bool
    data: dict[str, object]


class Subscriber:
    def __init__(self, secret: str, port: int | None = None):
        self.webhook = Webhook(secret)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/sift"
        self.status = 200  # what it answers while up
        self.delay = 0.0  # seconds it waits before answering an event it has kept
        self.received: list[Received] = []  # the requests it answered 2xx
        self.refused = 0  # requests it answered with an error status
        self.forged = 0  # requests whose signature did not verify
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    owner.webhook.verify(body, dict(self.headers.items()))
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with owner._lock:
                    status, delay = (owner.status if verified else 400), owner.delay
                    if not verified:
                        owner.forged += 1
                    elif 200 <= status < 300:
                        payload = json.loads(body)
                        owner.received.append(Received(self.headers["webhook-id"], payload["type"], verified, payload["data"]))
                    else:
                        owner.refused += 1
                if delay and 200 <= status < 300:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting and closed the connection
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a real server's backlog: the sender opens several connections at once

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def ids(self, kind: str | None = None) -> list[str]:
        with self._lock:
            return [r.event_id for r in self.received if kind is None or r.type == kind]
