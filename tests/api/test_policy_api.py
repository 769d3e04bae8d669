"""The policy through the API: every result carries it, and repeat offenders are remembered in the database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from service.db.models import AuthorOffence, ClassificationRecord
from service.db.offences import clear_offences
from tests.api.conftest import make_settings


def test_results_carry_actions_route_priority_templates_and_sla(client: TestClient) -> None:
    body = client.post("/classify", json={"text": "is the office open on bank holidays?", "channel": "facebook",
                                          "posted_at": "2026-11-27T16:30:00Z"}).json()
    assert [a["action"] for a in body["actions"]] == ["answer_publicly"]
    assert body["route_to"] == "Communications" and body["priority"] == "normal"
    assert body["sla"]["acknowledge_by"] == "2026-11-30T10:30:00+00:00"
    assert body["sla"]["respond_by"] == "2026-11-30T12:30:00+00:00"
    removed = client.post("/classify", json={"text": "call me on 07700 900123", "channel": "twitter"}).json()
    assert [a["action"] for a in removed["actions"]] == ["delete_post", "private_message"]
    assert "DM us" in removed["reply_templates"]["pii_removed"] and "07700" not in removed["reply_templates"]["pii_removed"]


def test_repeat_offenders_are_blocked_and_a_cleared_post_stops_counting(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url=database_url))
    post = {"text": "you useless w@nkers", "channel": "facebook", "author_id": "fb-user-9"}
    with TestClient(app) as client:
        first = client.post("/classify", json=post).json()
        second = client.post("/classify", json=post).json()
        assert "block_author" not in [a["action"] for a in first["actions"] + second["actions"]]
        other = client.post("/classify", json={**post, "author_id": "fb-user-10"}).json()
        assert "block_author" not in [a["action"] for a in other["actions"]]
        third = client.post("/classify", json=post).json()
        block = next(a for a in third["actions"] if a["action"] == "block_author")
        assert [h["record_id"] for h in block["history"]] == [first["record_id"], second["record_id"]]

        with Session(app.state.engine) as session:
            rows = list(session.scalars(select(AuthorOffence)))
            assert len(rows) == 4 and all("fb-user" not in r.author_hash for r in rows)
            stored = session.get(ClassificationRecord, third["record_id"])
            assert stored is not None and stored.priority == "high" and stored.policy is not None
            assert clear_offences(session, second["record_id"], moderator="mod-1") == 1
            session.commit()

        fourth = client.post("/classify", json=post).json()  # first, third and this one: still three
        assert "block_author" in [a["action"] for a in fourth["actions"]]
        with Session(app.state.engine) as session:
            clear_offences(session, third["record_id"], moderator="mod-1")
            session.commit()
        fifth = client.post("/classify", json=post).json()  # first, fourth and this one: three again
        assert "block_author" in [a["action"] for a in fifth["actions"]]
        with Session(app.state.engine) as session:
            clear_offences(session, fourth["record_id"], moderator="mod-1")
            clear_offences(session, fifth["record_id"], moderator="mod-1")
            session.commit()
        sixth = client.post("/classify", json=post).json()  # only first and this one count
        assert "block_author" not in [a["action"] for a in sixth["actions"]]


def test_a_bad_policy_file_stops_start_up_with_its_key(tmp_path: Path) -> None:
    import pytest

    from model.policy.config import PolicyError

    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    app = create_app(make_settings(tmp_path, policy_file=bad))
    with pytest.raises(PolicyError, match="version"), TestClient(app):
        pass
