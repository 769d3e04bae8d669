"""Helpers for tests that start a real server, or threads of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

POLL_SECONDS = 0.1
TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(base: str, tries: int = 100, *, process: subprocess.Popen[Any] | None = None,
                       thread: threading.Thread | None = None, log: Path | None = None) -> None:
    """Poll ``base``/healthz every 0.1 s until it answers 200; raise if it has not within ``tries`` x 0.1 s.

    Pass the server's ``process`` (its piped stdout and stderr are read), its ``thread`` or its ``log`` file:
    the error then says whether the server died and ends with the tail of what it wrote.
    """
    deadline = time.monotonic() + tries * POLL_SECONDS
    last = "no answer yet"
    while True:
        try:
            answer = httpx.get(f"{base}/healthz", timeout=1)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}: {answer.text[:200]}"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        died = _died(process, thread)
        if died or time.monotonic() >= deadline:
            why = died or f"not healthy within {tries * POLL_SECONDS:g} s"
            raise AssertionError(f"server at {base} {why}; last answer: {last}{_tail(process, log)}")
        time.sleep(POLL_SECONDS)


def _died(process: subprocess.Popen[Any] | None, thread: threading.Thread | None) -> str | None:
    if process is not None and process.poll() is not None:
        return f"exited with code {process.returncode}"
    if thread is not None and not thread.is_alive():
        return "thread stopped"
    return None


def _tail(process: subprocess.Popen[Any] | None, log: Path | None) -> str:
    parts = []
    if process is not None:
        for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
            text = _read_available(stream)
            if text:
                parts.append(f"\n--- server {name} (last {TAIL_CHARS} characters) ---\n{text[-TAIL_CHARS:]}")
    if log is not None and log.is_file():
        parts.append(f"\n--- {log} (last {TAIL_CHARS} characters) ---\n"
                     f"{log.read_text(encoding='utf-8', errors='replace')[-TAIL_CHARS:]}")
    return "".join(parts)


def _read_available(stream: IO[Any] | None, limit: int = 1 << 20) -> str:
    """What a pipe holds now (up to ``limit`` bytes), without waiting for a live process to write more."""
    if stream is None or stream.closed:
        return ""
    fd = stream.fileno()
    chunks: list[bytes] = []
    os.set_blocking(fd, False)
    try:
        while sum(map(len, chunks)) < limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:  # BlockingIOError: nothing more for now
        pass
    finally:
        os.set_blocking(fd, True)
    return b"".join(chunks).decode("utf-8", "replace")


class CheckedThread(threading.Thread):
    """A thread whose failure fails the test: ``join_checked`` joins it, asserts it ended and re-raises what it raised.

        thread = CheckedThread(target=work)
        thread.start()
        thread.join_checked(timeout=10)
    """

    def __init__(self, target: Callable[..., object], args: tuple[Any, ...] = (), *, name: str | None = None,
                 daemon: bool = True) -> None:  # daemon: a thread stuck after its test failed must not hang pytest's exit
        super().__init__(target=target, args=args, name=name, daemon=daemon)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            super().run()
        except BaseException as exc:  # kept for the test's thread, where pytest sees it
            self.error = exc

    def join_checked(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"thread {self.name} is still running {timeout} s after it was asked to finish"
        if self.error is not None:
            raise AssertionError(f"thread {self.name} failed: {self.error!r}") from self.error
