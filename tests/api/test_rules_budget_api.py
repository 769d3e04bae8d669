"""Over HTTP: a comment whose rules run past their budget is answered, says why, and waits in the review queue."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from service.db.models import ClassificationRecord, ReviewItem
from tests.api.conftest import make_settings


def test_a_comment_cut_short_by_the_rules_budget_is_answered_and_queued(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, rules_budget_ms=0.001))) as client:
        response = client.post("/classify", json={"text": "4111 " * 2000, "channel": "facebook", "id": "slow-1"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["needs_review"] is True
        assert body["review_reasons"][0].startswith("rules cut short at ")
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            queued = session.execute(select(ClassificationRecord.external_id, ReviewItem.status)
                                     .join(ReviewItem, ReviewItem.classification_id == ClassificationRecord.id)).all()
        assert [tuple(row) for row in queued] == [("slow-1", "open")]


def test_the_budget_setting_is_bounded(tmp_path: Path) -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="rules_budget_ms"):
        make_settings(tmp_path, rules_budget_ms=-5)
    assert make_settings(tmp_path, rules_budget_ms=0).rules_budget is None
    assert make_settings(tmp_path, rules_budget_ms=250).rules_budget == 0.25
