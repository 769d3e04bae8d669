from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings


def test_classify_returns_labels_scores_flags_evidence_and_redaction(client: TestClient) -> None:
    response = client.post("/classify", json={"text": "Dave from repairs never came, call me on 07700 900123",
                                              "channel": "facebook", "id": "fb-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "fb-1" and body["record_id"]
    assert {"complaint", "pii"} <= set(body["labels"])
    assert set(body["scores"]) == {"query", "complaint", "compliment", "negative", "abusive", "pii"}
    assert body["flags"] == {"spam": False, "staff_named": True}
    assert body["source"] == "rules" and body["model_version"] is None and body["fallback_reason"]
    assert "[PHONE]" in body["redacted_text"] and "07700" not in body["redacted_text"]
    pii = next(e for e in body["evidence"] if e["target"] == "pii")
    assert body["redacted_text"] != "" and pii["entity"] == "PHONE"
    assert "Dave from repairs never came, call me on 07700 900123"[pii["start"]:pii["end"]] == "07700 900123"


def test_batch_answers_in_the_same_order(client: TestClient) -> None:
    texts = ["Huge thanks to the repairs team", "you w@nkers", "How do I pay my rent?", "check out my channel!!"]
    response = client.post("/classify/batch", json={"items": [{"text": t, "id": str(i)} for i, t in enumerate(texts)]})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == ["0", "1", "2", "3"]
    assert "compliment" in items[0]["labels"] and "abusive" in items[1]["labels"]
    assert "query" in items[2]["labels"] and items[3]["flags"]["spam"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": ""}, "text", "at least 1 character"),
        ({"text": "   \n "}, "text", "only whitespace"),
        ({"text": "x" * 10_001}, "text", "at most 10000 characters"),
        ({"text": 42}, "text", "valid string"),
        ({"text": "hi", "channel": "myspace"}, "channel", "'facebook'"),
        ({"channel": "facebook"}, "text", "required"),
        ({"text": "hi", "colour": "red"}, "colour", "unknown field"),
        ({"text": "hi", "posted_at": "yesterday"}, "posted_at", "datetime"),
        ({"text": "hi", "posted_at": 0}, "posted_at", "with a time zone"),
        ({"text": "hi", "posted_at": "2026-11-28T10:00:00"}, "posted_at", "with a time zone"),
        ({"text": "hi", "posted_at": "2026-11-28"}, "posted_at", "with a time zone"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(client: TestClient, body: dict, field: str, words: str) -> None:  # type: ignore[type-arg]
    response = client.post("/classify", json=body)
    assert response.status_code == 422
    details = response.json()["details"]
    assert any(d["field"] == field and words in d["message"] for d in details), details


@pytest.mark.parametrize("when", ["2026-11-28T10:00:00Z", "2026-11-28T10:00:00+01:00", "2026-11-28 10:00:00.123+0000"])
def test_posted_at_with_a_zone_is_accepted(client: TestClient, when: str) -> None:
    assert client.post("/classify", json={"text": "hi there", "posted_at": when}).status_code == 200


def test_malformed_json_is_refused_with_a_message(client: TestClient) -> None:
    response = client.post("/classify", content=b'{"text": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body"
    assert "not valid JSON" in response.json()["details"][0]["message"]


@pytest.mark.parametrize(("body", "words"), [
    (b'{"text": "caf\xe9 \xff"}', "not valid UTF-8"),
    (b'{"text": "hi", "id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
])
def test_unreadable_bodies_get_the_documented_error_naming_the_problem(client: TestClient, body: bytes, words: str) -> None:
    response = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text  # was a bare 400 "There was an error parsing the body"
    assert response.json()["details"][0]["field"] == "body" and words in response.json()["details"][0]["message"]


def test_oversized_batch_names_the_limit(client: TestClient) -> None:
    response = client.post("/classify/batch", json={"items": [{"text": "hi"}] * 257})
    assert response.status_code == 422
    assert any(d["field"] == "items" and "at most 256 items" in d["message"] for d in response.json()["details"])


def test_empty_batch_is_refused(client: TestClient) -> None:
    assert client.post("/classify/batch", json={"items": []}).status_code == 422


def test_a_body_larger_than_any_valid_batch_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/classify", content=b"x", headers={"content-type": "application/json",
                                                                "content-length": str(200_000_000)})
    assert response.status_code == 413


def test_a_chunked_body_stops_at_the_limit_as_it_streams(client: TestClient) -> None:
    """Driven over ASGI directly: the test client would buffer the whole body before the app saw it."""
    import asyncio

    from api.limits import MAX_BODY_BYTES

    pulled, messages = 0, []

    async def receive() -> dict:  # type: ignore[type-arg]
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": b'{"items": [{"text": "', "more_body": True}
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": pulled < 500}  # 500 MB, no length

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/classify/batch", "raw_path": b"/classify/batch", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"host", b"testserver"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert start["status"] == 413 and b"went past the limit" in body
    assert pulled <= MAX_BODY_BYTES // 1_000_000 + 2  # it stopped reading at the limit, not at the end of the stream


def test_healthz_and_readyz_say_what_is_degraded(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["components"]["rules"]["ok"] and body["components"]["database"]["ok"]
    assert not body["components"]["model"]["ok"] and "answering from rules" in body["components"]["model"]["detail"]


def test_openapi_documents_the_error_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/classify"]["post"]["responses"]
    assert {"200", "401", "403", "413", "422", "429", "500", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"] and "Retry-After" in responses["429"]["headers"]


def test_a_statement_the_database_refuses_is_a_documented_json_500_without_its_values(client: TestClient) -> None:
    import sqlite3

    from sqlalchemy import event, exc

    def refuse(*_args: object) -> None:
        raise exc.IntegrityError("INSERT", {"text": "secret words"}, sqlite3.IntegrityError("NOT NULL constraint failed"))

    event.listen(client.app.state.engine, "before_cursor_execute", refuse)  # type: ignore[attr-defined]
    try:
        answer = client.post("/classify", json={"text": "secret words"})
    finally:
        event.remove(client.app.state.engine, "before_cursor_execute", refuse)  # type: ignore[attr-defined]
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert "bug in sift" in answer.json()["error"] and "secret" not in answer.text


def test_when_keys_are_required_then_calls_without_a_valid_key_are_refused(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, require_api_key=True))
    with TestClient(app) as client:
        assert client.post("/classify", json={"text": "hi"}).status_code == 401
        assert client.post("/classify", json={"text": "hi"}, headers={"X-API-Key": "sift_wrong"}).status_code == 401
        from service.db.repository import create_api_key

        with app.state.session_factory() as session:
            _, good = create_api_key(session, "crm", ["classify"])
            _, review_only = create_api_key(session, "mods", ["review"])
        assert client.post("/classify", json={"text": "hi"}, headers={"X-API-Key": good}).status_code == 200
        assert client.post("/classify", json={"text": "hi"}, headers={"Authorization": f"Bearer {good}"}).status_code == 200
        assert client.post("/classify", json={"text": "hi"}, headers={"X-API-Key": review_only}).status_code == 403


def test_a_non_loopback_bind_requires_keys_by_default(tmp_path: Path) -> None:
    assert make_settings(tmp_path, host="0.0.0.0").api_key_required
    assert not make_settings(tmp_path, host="127.0.0.1").api_key_required
    with pytest.raises(ValueError, match="only allowed on a loopback address"):
        make_settings(tmp_path, host="0.0.0.0", require_api_key=False)


def test_review_bands_from_settings_override_and_are_validated(tmp_path: Path) -> None:
    text = {"text": "those clowns"}  # "clown" scores 0.6 for abusive: inside the default band [0.35, 0.65)
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert any(r.startswith("abusive:") for r in client.post("/classify", json=text).json()["review_reasons"])
    with TestClient(create_app(make_settings(tmp_path, review_bands={"abusive": [0.9, 0.95]}))) as client:
        assert not any(r.startswith("abusive:") for r in client.post("/classify", json=text).json()["review_reasons"])
    with pytest.raises(ValueError, match="SIFT_REVIEW_BANDS names 'rude'"):
        make_settings(tmp_path, review_bands={"rude": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"SIFT_REVIEW_BANDS\['pii'\] must be"):
        make_settings(tmp_path, review_bands={"pii": [0.9, 0.2]})
