"""Storage on SQLite always, and on PostgreSQL when SIFT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from api.main import create_app
from service.db.migrate import downgrade, upgrade
from service.db.models import ClassificationRecord
from tests.api.conftest import make_settings


def test_every_classification_is_recorded_and_only_review_items_keep_text(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url=database_url))
    with TestClient(app) as client:
        sure = client.post("/classify", json={"text": "Waited in all day, nobody turned up", "channel": "twitter",
                                              "author_id": "user-77", "posted_at": "2026-11-27T10:00:00Z"}).json()
        unsure = client.post("/classify", json={"text": "those clowns", "id": "yt-9"}).json()
        assert not sure["needs_review"] and unsure["needs_review"]
        with Session(app.state.engine) as session:
            rows = {r.id: r for r in session.scalars(select(ClassificationRecord))}
    assert set(rows) == {sure["record_id"], unsure["record_id"]}
    kept, plain = rows[unsure["record_id"]], rows[sure["record_id"]]
    assert kept.text == "those clowns" and kept.external_id == "yt-9"
    assert plain.text is None and len(plain.text_sha256) == 64
    assert plain.source == "rules" and plain.labels == sure["labels"] and plain.channel == "twitter"
    assert plain.author_hash and "user-77" not in plain.author_hash
    assert plain.posted_at is not None


def test_migrations_run_up_and_down(tmp_path: Path, database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    assert {"api_keys", "classifications"} <= set(inspect(engine).get_table_names())
    downgrade(database_url, "base")
    assert not {"api_keys", "classifications"} & set(inspect(engine).get_table_names())
    upgrade(database_url)
    assert "classifications" in inspect(engine).get_table_names()
    engine.dispose()


def test_a_failing_statement_never_shows_its_parameters(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from service.db.session import make_engine

    secret = "call me on 07700 900123 at jo@example.com"
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE t (a TEXT UNIQUE)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:a)"), {"a": secret})
        with pytest.raises(sa.exc.IntegrityError) as failed:
            conn.execute(sa.text("INSERT INTO t VALUES (:a)"), {"a": secret})
    assert secret not in str(failed.value) and "hidden" in str(failed.value)


def test_nul_characters_are_replaced_before_storage_on_every_database(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url=database_url))
    with TestClient(app) as client:
        answer = client.post("/classify", json={"text": "those\x00 clowns", "id": "yt-\x009"})
        assert answer.status_code == 200, answer.text  # PostgreSQL refused the NUL with a 500
        assert answer.json()["stored_changes"] == [  # and the caller is told the stored copy differs
            "text: 1 NUL character replaced by U+FFFD (the database cannot store NUL)",
            "id: 1 NUL character replaced by U+FFFD (the database cannot store NUL)"]
        with Session(app.state.engine) as session:
            row = session.get(ClassificationRecord, answer.json()["record_id"])
            assert row is not None and row.text == "those\ufffd clowns" and row.external_id == "yt-\ufffd9"
            assert row.text_sha256 == hashlib.sha256(b"those\x00 clowns").hexdigest()  # the hash is of what was sent
