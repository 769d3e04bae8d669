"""Two moderators claiming from the queue at once never get the same item (PostgreSQL and SQLite)."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from service.db.review import claim_next
from tests.api.conftest import make_settings
from tests.serving import CheckedThread


def test_concurrent_claims_are_exclusive(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url=database_url, model_poll_seconds=0))
    with TestClient(app) as client:
        texts = [{"text": f"those clowns again, number {i}"} for i in range(40)]
        assert client.post("/classify/batch", json={"items": texts}).status_code == 200
        claimed: dict[str, list[str]] = {"maria": [], "sam": []}
        barrier = threading.Barrier(2)

        def moderator(name: str) -> None:
            barrier.wait()
            with app.state.session_factory() as session:
                while (item := claim_next(session, name)) is not None:
                    claimed[name].append(item.id)

        threads = [CheckedThread(target=moderator, args=(name,)) for name in claimed]
        for t in threads:
            t.start()
        for t in threads:
            t.join_checked(timeout=60)
    everything = claimed["maria"] + claimed["sam"]
    assert len(everything) == 40 and len(set(everything)) == 40
    if database_url.startswith("postgresql"):
        assert claimed["maria"] and claimed["sam"]  # SKIP LOCKED: both got work, nobody queued behind a lock
