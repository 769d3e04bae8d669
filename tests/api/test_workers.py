"""Two API worker processes sharing one PostgreSQL: nothing lost, review claims still exclusive."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.models import ClassificationRecord
from service.db.repository import create_api_key
from tests.logscan import output_file
from tests.serving import wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_write_to_postgresql_at_once_and_lose_nothing(postgres_url: str, tmp_path: Path) -> None:
    upgrade(postgres_url)
    engine = create_engine(postgres_url)
    with Session(engine) as session:
        _, classify_key = create_api_key(session, "crm", ["classify"])
        _, review_key = create_api_key(session, "mods", ["review"])
    port = _free_port()
    env = {**os.environ, "SIFT_DATABASE_URL": postgres_url, "SIFT_DATA_DIR": str(tmp_path), "SIFT_SECRET_KEY": "t",
           "SIFT_MODEL_DIR": str(tmp_path / "none"), "SIFT_LOG_LEVEL": "WARNING", "SIFT_REQUIRE_API_KEY": "true"}
    log = output_file("sift serve --workers 2")  # scanned for leaks at the end of the session
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"], cwd=REPO, env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, tries=300, log=log)
        texts = [f"those clowns broke the lift again, report {i}" for i in range(200)]

        def post(text: str) -> str:
            r = httpx.post(f"{base}/classify", json={"text": text}, headers={"X-API-Key": classify_key}, timeout=30)
            r.raise_for_status()
            return str(r.json()["record_id"])

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(post, texts))
        assert len(set(ids)) == 200
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(ClassificationRecord)) == 200

        def claim_all(_: int) -> list[str]:
            got = []
            with httpx.Client(base_url=base, headers={"X-API-Key": review_key}, timeout=30) as client:
                while (item := client.post("/review/items/next/claim").json()) is not None:
                    got.append(item["id"])
            return got

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(claim_all, [0, 1])
        assert len(a) + len(b) == len(set(a) | set(b)) > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()
