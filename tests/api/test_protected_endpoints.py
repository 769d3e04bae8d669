"""/metrics and the API docs behind a key scope when keys are required; open on loopback without keys.

Issue 12: with keys required, /metrics and /docs answered anyone (/readyz is covered with the faults work).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from service.db.repository import create_api_key
from tests.api.conftest import make_settings

DOCS = ["/docs", "/redoc", "/openapi.json"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(make_settings(tmp_path_factory.mktemp("keyed"), model_poll_seconds=0, require_api_key=True))
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            keys = {scope: create_api_key(session, scope, [scope])[1] for scope in ("classify", "review", "metrics", "admin")}
        yield client, keys


@pytest.mark.parametrize("path", ["/metrics", *DOCS])
def test_with_keys_required_a_caller_without_a_key_is_refused(keyed: tuple[TestClient, dict[str, str]], path: str) -> None:
    client, _ = keyed
    for headers in ({}, {"X-API-Key": "sift_not-a-key"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401 and "API key" in response.json()["error"], (path, headers)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("scope", "status"), [("classify", 403), ("review", 403), ("metrics", 200), ("admin", 200)])
def test_metrics_need_the_metrics_scope(keyed: tuple[TestClient, dict[str, str]], scope: str, status: int) -> None:
    client, keys = keyed
    response = client.get("/metrics", headers={"Authorization": f"Bearer {keys[scope]}"})
    assert response.status_code == status
    if status == 200:
        assert "sift_request_seconds" in response.text
    else:
        assert response.json()["error"] == "this API key lacks the 'metrics' scope"


@pytest.mark.parametrize("path", DOCS)
@pytest.mark.parametrize("scope", ["classify", "review", "metrics", "admin"])
def test_any_valid_key_reads_the_docs(keyed: tuple[TestClient, dict[str, str]], path: str, scope: str) -> None:
    client, keys = keyed
    response = client.get(path, headers={"X-API-Key": keys[scope]})
    assert response.status_code == 200
    assert ("/classify" in response.json()["paths"]) if path == "/openapi.json" else ("/openapi.json" in response.text)


def test_on_loopback_without_keys_metrics_and_docs_stay_open(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, model_poll_seconds=0))) as client:
        for path in ["/metrics", *DOCS]:
            assert client.get(path).status_code == 200, path
        assert "/docs" not in client.get("/openapi.json").json()["paths"]  # the doc routes are not in the spec
