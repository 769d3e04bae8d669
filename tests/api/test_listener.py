"""api.listener: a listener that completes no new handshake, keeps its queue, and is found in /proc."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from api import listener
from api.listener import SOLE_LISTENER_ENV, Closing, listening_sockets, queued, refuse_new_connections

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters and /proc are Linux's")


def _wait_queued(server: socket.socket, count: int) -> int:
    for _ in range(100):
        if queued(server) == count:
            break
        time.sleep(0.01)
    return queued(server)


def test_a_refusing_listener_keeps_its_queue_and_completes_no_new_connection() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        port = server.getsockname()[1]
        early = socket.create_connection(("127.0.0.1", port))
        early.sendall(b"sent before the filter")
        assert _wait_queued(server, 1) == 1
        refuse_new_connections(server)
        with pytest.raises(TimeoutError):  # its SYN is dropped: no handshake, no reset
            socket.create_connection(("127.0.0.1", port), timeout=0.3)
        accepted, _ = server.accept()
        assert accepted.recv(100) == b"sent before the filter"
        assert queued(server) == 0
        accepted.close()
        early.close()
    with pytest.raises(ConnectionRefusedError):  # closed: a retried SYN is refused at once
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_the_listeners_of_the_process_are_found_once_each() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as plain:
        found = listening_sockets()
        try:
            names = [sock.getsockname() for sock in found]
            assert names.count(server.getsockname()) == 1
            assert plain.fileno() not in [sock.fileno() for sock in found]
        finally:
            for sock in found:
                sock.close()
        server.settimeout(0.5)  # closing the duplicates left the listener open
        client = socket.create_connection(server.getsockname())
        server.accept()[0].close()
        client.close()


def test_a_shared_listener_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        # only this test's listener (the test process may hold others: a filter would stay on them)
        monkeypatch.setattr(listener, "listening_sockets", lambda: [server.dup()])
        monkeypatch.setenv(SOLE_LISTENER_ENV, "0")  # several workers hold it: a filter would shut the others out
        closing = Closing()
        closing.refuse()
        assert closing.sockets == []
        socket.create_connection(server.getsockname(), timeout=1).close()
        monkeypatch.setenv(SOLE_LISTENER_ENV, "1")
        closing.refuse()
        assert [sock.getsockname() for sock in closing.sockets] == [server.getsockname()]
        closing.close()
        assert _wait_queued(server, 1) == 1  # the one that came before is still there
        with pytest.raises(TimeoutError):
            socket.create_connection(server.getsockname(), timeout=0.3)
