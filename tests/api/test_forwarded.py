"""Whose address do the per-address limits count? The peer's, unless the peer is a proxy trusted in
SIFT_FORWARDED_ALLOW_IPS: then the address it gives in X-Forwarded-For. A caller that is not a trusted proxy
cannot escape its limit by sending the header (uvicorn's proxy headers, configured by ``sift serve``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.logscan import output_file
from tests.serving import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]


def _statuses(tmp_path: Path, trusted: str) -> list[int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SIFT_DATA_DIR": str(tmp_path), "SIFT_SECRET_KEY": "t",
           "SIFT_MODEL_DIR": str(tmp_path / "none"), "SIFT_MODEL_POLL_SECONDS": "0", "SIFT_LOG_LEVEL": "WARNING",
           "SIFT_CLASSIFY_IP_LIMIT": "2/minute", "SIFT_FORWARDED_ALLOW_IPS": trusted}
    log = output_file(f"sift serve trusting {trusted or 'nobody'}")
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=REPO, env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, tries=300, process=server, log=log)
        with httpx.Client(base_url=base, timeout=30) as client:
            return [client.post("/classify", json={"text": "when is the rent due?"},
                                headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(3)]
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(("trusted", "expected"), [
    ("", [200, 200, 429]),  # nobody trusted: the header is ignored, all three are the same caller
    ("127.0.0.1,::1", [200, 200, 200]),  # the peer is a trusted proxy: three callers, one request each
])
def test_only_a_trusted_proxy_says_whose_request_it_is(tmp_path: Path, trusted: str, expected: list[int]) -> None:
    assert _statuses(tmp_path, trusted) == expected
