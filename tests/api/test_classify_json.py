"""/classify serialises its answer once, straight from the decision: the bytes are exactly what the documented
response models would give, for the rules and for the shipped model, one comment and a batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import ClassificationPublic, ClassificationsPublic
from tests.api.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "@HousingHelp Dave from repairs never came AGAIN, call me on 07700 900123 #fuming",
    "you absolute w@nkers, I'll smash the office up",
    "How do I pay my rent? https://example.org/pay",
    "Huge thanks to the repairs team \U0001F44D\U0001F3FD",
    "check out my channel!! subscribe http://bit.ly/x",
    "Mae fy nghartref yn oer iawn ers wythnos ac nid oes neb wedi dod",
    "boiler",
]


@pytest.fixture(params=["rules", "release model"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    model = tmp_path / "no-model" if request.param == "rules" else REPO / "data" / "release"
    with TestClient(create_app(make_settings(tmp_path, model_dir=model, model_poll_seconds=0))) as test_client:
        yield test_client


@pytest.mark.parametrize("text", TEXTS)
def test_one_answer_is_the_response_models_json(client: TestClient, text: str) -> None:
    response = client.post("/classify", json={"text": text, "id": "c-1", "channel": "facebook"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.content == ClassificationPublic.model_validate_json(response.content).model_dump_json().encode()


def test_a_batch_answer_is_the_response_models_json(client: TestClient) -> None:
    response = client.post("/classify/batch", json={"items": [{"text": t, "id": str(n)} for n, t in enumerate(TEXTS)]})
    assert response.status_code == 200
    body = ClassificationsPublic.model_validate_json(response.content)
    assert response.content == body.model_dump_json().encode()
    assert [item.id for item in body.items] == [str(n) for n in range(len(TEXTS))] and body.count == len(TEXTS)
    model_loaded = client.app.state.pipeline.classifier is not None  # type: ignore[attr-defined]
    assert ("model" in {item.source for item in body.items}) == model_loaded
