"""/readyz probes the database's write lock at most once every PROBE_SECONDS (and again when the store's state
changes): before, every call took SQLite's write lock, with no key and no limit, competing with the writer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes import health
from tests.api.conftest import make_settings


def test_a_flood_of_readyz_calls_probes_the_database_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[object] = []
    real = health.probe_write
    monkeypatch.setattr(health, "PROBE_SECONDS", 3600.0)
    monkeypatch.setattr(health, "probe_write", lambda engine: probes.append(engine) or real(engine))
    with TestClient(create_app(make_settings(tmp_path))) as client:
        answers = [client.get("/readyz").json()["status"] for _ in range(20)]
        assert len(probes) == 1 and set(answers) == {"degraded"}  # degraded: no model here, the database is fine
        client.post("/classify", json={"text": "when is the rent due?"})  # committed: the store's state is unchanged
        client.get("/readyz")
        assert len(probes) == 1
        monkeypatch.setattr(health, "PROBE_SECONDS", 0.0)
        client.get("/readyz")
        assert len(probes) == 2


def test_comments_the_database_refused_make_readyz_degraded_and_say_where_they_are(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        client.app.state.store.outbox._rejected.comments = 2  # type: ignore[attr-defined]  # as a replay would leave it
        ready = client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert "2 comments the database refused" in ready["components"]["outbox_rejected"]["detail"]
