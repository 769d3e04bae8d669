"""Over HTTP: a comment whose rules run past their budget is answered, says why, and waits in the review queue."""

from __future__ import annotations

import threading
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


class _Gated:
    """The service's pipeline, held inside its model call until the test lets it go."""

    def __init__(self, inner: object) -> None:
        self.inner, self.started, self.release = inner, threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def classify_many(self, texts: list[str]) -> object:
        self.started.set()
        self.release.wait(30)
        return self.inner.classify_many(texts)  # type: ignore[attr-defined]


def test_the_event_loop_answers_while_the_pipeline_works(tmp_path: Path) -> None:
    """The finding: one slow batch held every other caller of the worker. The model and the rules run in a
    worker thread, so while a comment is being classified the same process still answers others."""
    with TestClient(create_app(make_settings(tmp_path))) as client:
        gated = _Gated(client.app.state.pipeline)  # type: ignore[attr-defined]
        client.app.state.pipeline = gated  # type: ignore[attr-defined]
        safety = threading.Timer(30, gated.release.set)
        safety.start()
        answers: list[int] = []
        slow = threading.Thread(target=lambda: answers.append(client.post("/classify", json={"text": "4111 " * 2000}).status_code))
        slow.start()
        try:
            assert gated.started.wait(10), "the classify request never reached the pipeline"
            assert client.get("/healthz").status_code == 200
            assert not gated.release.is_set(), "healthz waited for the pipeline: the event loop was blocked"
        finally:
            gated.release.set()
            safety.cancel()
            slow.join(30)
        assert answers == [200]
