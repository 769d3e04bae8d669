"""Routes reach the app's parts through dependencies, so a test (or an embedding app) can swap one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.deps import get_batcher, get_store
from api.main import create_app
from model.result import Classification
from tests.api.conftest import make_settings


class CountingBatcher:
    """Stands in for the micro-batcher: answers from the app's own pipeline and counts the texts."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline
        self.texts: list[str] = []

    async def run(self, texts: list[str], then: Callable[[list[Classification]], Any], *, remember: bool = True) -> Any:
        self.texts.extend(texts)
        return then(self.pipeline.classify_many(texts, remember=[remember] * len(texts)))


class RefusingStore:
    async def save(self, rows: Any) -> Any:
        raise RuntimeError("a bug in storing")


def test_the_model_step_is_the_batcher_dependency(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        fake = CountingBatcher(app.state.pipeline)
        app.dependency_overrides[get_batcher] = lambda: fake
        body = client.post("/classify/batch", json={"items": [{"text": "Huge thanks to the repairs team"},
                                                               {"text": "call me on 07700 900123"}]}).json()
    assert fake.texts == ["Huge thanks to the repairs team", "call me on 07700 900123"]
    assert body["count"] == 2 and "pii" in body["items"][1]["labels"]


def test_a_failing_store_is_a_server_error_not_an_answer_that_was_never_kept(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        app.dependency_overrides[get_store] = RefusingStore
        answer = client.post("/classify", json={"text": "Huge thanks to the repairs team"})
    assert answer.status_code == 500 and "record_id" not in answer.text
