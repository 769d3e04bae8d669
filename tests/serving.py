"""Helpers for tests that start a real server."""

from __future__ import annotations

import time

import httpx


def wait_until_healthy(base: str, tries: int = 100) -> None:
    """Poll ``base``/healthz every 0.1 s until it answers 200 (at most ``tries`` times)."""
    for _ in range(tries):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
