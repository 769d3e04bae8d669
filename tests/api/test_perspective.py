"""The Perspective-compatible door in process: its answers, its errors in Google's shape, its key in ``?key=``,
and ``doNotStore`` keeping nothing. The real clients against a running server: test_perspective_clients.py."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import get_store
from api.main import create_app
from api.storage import NotStored
from model.labels import LABELS
from model.language import LanguageDetector
from model.pipeline import Pipeline
from model.rules.engine import RulesEngine
from service.db.models import ClassificationRecord, ReviewItem
from service.db.repository import create_api_key
from service.perspective import ATTRIBUTES
from tests.api.conftest import make_settings

ANALYZE = "/v1alpha1/comments:analyze"
ALL = {name: {} for name in ATTRIBUTES}


@pytest.fixture(scope="module")
def open_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("open"), model_poll_seconds=0))) as client:
        yield client


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    # The test client itself logs each URL it requests at INFO, ?key= included (the server hides it: service.logs).
    client_log = logging.getLogger("httpx2")
    level = client_log.level
    client_log.setLevel(logging.WARNING)
    app = create_app(make_settings(tmp_path_factory.mktemp("keyed"), model_poll_seconds=0, require_api_key=True,
                                   classify_key_limit="3/hour"))
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            keys = {scope: create_api_key(session, f"p-{scope}", [scope])[1] for scope in ("classify", "review")}
        yield client, keys
    client_log.setLevel(level)


def test_an_abusive_comment_scores_on_every_attribute_with_spans_and_the_token_echoed(open_client: TestClient) -> None:
    text = "You f***ing idiot, I'll smash your face in"
    body = {"comment": {"text": text}, "requestedAttributes": ALL, "spanAnnotations": True, "clientToken": "c-1",
            "languages": ["en"], "sessionId": "s", "communityId": "forum", "context": {"entries": [{"text": "the post"}]}}
    answer = open_client.post(ANALYZE, json=body).json()
    assert set(answer) == {"attributeScores", "languages", "clientToken"} and answer["clientToken"] == "c-1"
    scores = {name: a["summaryScore"]["value"] for name, a in answer["attributeScores"].items()}
    assert set(scores) == set(ATTRIBUTES) and all(a["summaryScore"]["type"] == "PROBABILITY"
                                                  for a in answer["attributeScores"].values())
    assert scores["TOXICITY"] >= 0.85 and scores["PROFANITY"] >= 0.85 and scores["INSULT"] >= 0.5
    assert scores["THREAT"] >= 0.85 and scores["IDENTITY_ATTACK"] == 0.0
    insult = answer["attributeScores"]["INSULT"]["spanScores"]
    assert [text[s["begin"]:s["end"]] for s in insult] == ["idiot"]
    threat = answer["attributeScores"]["THREAT"]["spanScores"]
    assert all("smash" in text[s["begin"]:s["end"]] for s in threat)


def test_a_civil_comment_scores_low_and_spans_come_only_when_asked(open_client: TestClient) -> None:
    answer = open_client.post(ANALYZE, json={"comment": {"text": "Thanks for fixing the lift so quickly"},
                                             "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}}).json()
    assert answer["attributeScores"]["TOXICITY"]["summaryScore"]["value"] < 0.2
    assert "spanScores" not in answer["attributeScores"]["TOXICITY"] and "clientToken" not in answer
    assert answer["languages"] == ["en"] and answer["detectedLanguages"] == ["en"]


def test_a_score_below_the_callers_threshold_is_left_out(open_client: TestClient) -> None:
    answer = open_client.post(ANALYZE, json={"comment": {"text": "you idiot"}, "requestedAttributes": {
        "INSULT": {"scoreThreshold": 0.5}, "THREAT": {"scoreThreshold": 0.5, "scoreType": "PROBABILITY"}}}).json()
    assert list(answer["attributeScores"]) == ["INSULT"]


def test_perspectives_own_curl_body_with_unquoted_names_is_read(open_client: TestClient) -> None:
    body = b'{comment: {text: "what kind of idiot name is foo?"},\n   languages: ["en"],\n   requestedAttributes: {TOXICITY:{}} }'
    answer = open_client.post(ANALYZE, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5


@pytest.mark.parametrize(("body", "message", "kind"), [
    ({"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}, "Comment must be non-empty.", "COMMENT_EMPTY"),
    ({"comment": {}, "requestedAttributes": {"TOXICITY": {}}}, "Comment must be non-empty.", "COMMENT_EMPTY"),
    ({"comment": {"text": "x " * 5001}, "requestedAttributes": {"TOXICITY": {}}}, "Comment text too long.",
     "COMMENT_TOO_LONG"),
    ({"comment": {"text": "hi"}, "requestedAttributes": {"SEXUALLY_EXPLICIT": {}}},
     "Unknown requested attribute: SEXUALLY_EXPLICIT", "INVALID_REQUEST"),
    ({"comment": {"text": "hi"}}, "Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES"),
    ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["ja"]},
     "Attribute TOXICITY does not support request languages: ja", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    ({"comment": {"text": "Bonjour, mon chauffage ne marche pas depuis une semaine, pouvez-vous venir?"},
      "requestedAttributes": {"THREAT": {}}}, "Attribute THREAT does not support request languages: fr",
     "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    ({"comment": {"text": "<b>hi</b>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}},
     "Currently, only 'PLAIN_TEXT' comments are supported", "INVALID_REQUEST"),
    ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "doNotStroe": True},
     "Invalid JSON payload received. Unknown name \"doNotStroe\"", "INVALID_REQUEST"),
    ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "RAW"}}},
     "Requested score type RAW is not supported by attribute TOXICITY", "INVALID_REQUEST"),
])
def test_refusals_take_perspectives_error_shape_and_words(open_client: TestClient, body: dict, message: str,  # type: ignore[type-arg]
                                                          kind: str) -> None:
    answer = open_client.post(ANALYZE, json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and error["message"].startswith(message)
    assert error["details"][0]["errorType"] == kind


def test_an_unsupported_language_with_drop_unsupported_attributes_answers_without_them(open_client: TestClient) -> None:
    answer = open_client.post(ANALYZE, json={"comment": {"text": "hola"}, "languages": ["es"],
                                             "requestedAttributes": {"TOXICITY": {}}, "dropUnsupportedAttributes": True})
    assert answer.status_code == 200 and answer.json() == {"attributeScores": {}, "languages": ["es"]}


def test_a_body_that_is_not_json_is_a_google_error(open_client: TestClient) -> None:
    answer = open_client.post(ANALYZE, content=b"{comment: ", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]["message"]


def test_a_body_that_is_not_utf8_is_a_google_error_that_says_so(open_client: TestClient) -> None:
    answer = open_client.post(ANALYZE, content=b'{"comment": {"text": "caf\xe9"}}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "not valid UTF-8" in answer.json()["error"]["message"]


class _FullStore:
    async def save(self, rows: object) -> object:
        raise NotStored("the outbox is full")


def test_sifts_own_refusals_keep_their_status_and_headers_in_googles_shape(tmp_path: Path) -> None:
    """A comment neither the database nor the outbox can keep: api.errors' 503 with Retry-After, reshaped."""
    app = create_app(make_settings(tmp_path, model_poll_seconds=0))
    with TestClient(app) as client:
        app.dependency_overrides[get_store] = _FullStore
        answer = client.post(ANALYZE, json={"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}})
        private = client.post(ANALYZE, json={"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}},
                                             "doNotStore": True})
    error = answer.json()["error"]
    assert answer.status_code == 503 and error["status"] == "UNAVAILABLE" and "the outbox is full" in error["message"]
    assert answer.headers["retry-after"] == "5"
    assert private.status_code == 200  # nothing to store, so nothing to refuse


def test_the_rest_of_the_api_keeps_sifts_own_error_shape(open_client: TestClient) -> None:
    answer = open_client.post("/classify", json={"text": ""})
    assert answer.status_code == 422 and answer.json()["error"] == "the request is not valid"


def test_the_key_travels_in_the_query_and_needs_the_classify_scope(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    body = {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}}
    assert client.post(f"{ANALYZE}?key={keys['classify']}", json=body).status_code == 200
    assert client.post(ANALYZE, json=body, headers={"X-API-Key": keys["classify"]}).status_code == 200
    missing = client.post(ANALYZE, json=body)
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "?key=" in missing.json()["error"]["message"] and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post(f"{ANALYZE}?key=sift_not-a-key", json=body).json()["error"]
    assert wrong["code"] == 401 and wrong["message"] == "the API key is not valid or has been revoked"
    scope = client.post(f"{ANALYZE}?key={keys['review']}", json=body).json()["error"]
    assert scope["code"] == 403 and scope["status"] == "PERMISSION_DENIED" and "'classify' scope" in scope["message"]


def test_the_classify_rate_limits_apply_with_retry_after(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        _, key = create_api_key(session, "p-limited-classify", ["classify"])
    body = {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}}
    answers = [client.post(f"{ANALYZE}?key={key}", json=body) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["status"] == "RESOURCE_EXHAUSTED" and int(answers[-1].headers["retry-after"]) > 0


def test_the_discovery_document_points_at_this_server(open_client: TestClient) -> None:
    doc = open_client.get("/$discovery/rest", params={"version": "v1alpha1"}).json()
    assert doc["rootUrl"] == "http://testserver/" and doc["name"] == "commentanalyzer" and doc["version"] == "v1alpha1"
    method = doc["resources"]["comments"]["methods"]["analyze"]
    assert method["path"] == "v1alpha1/comments:analyze" and method["httpMethod"] == "POST"
    assert all(name in doc["schemas"]["AnalyzeCommentRequest"]["properties"]["requestedAttributes"]["description"]
               for name in ATTRIBUTES)
    other = open_client.get("/$discovery/rest", params={"version": "v1"})
    assert other.status_code == 404 and other.json()["error"]["status"] == "NOT_FOUND"


def test_the_analyze_route_is_in_the_openapi_spec_with_its_statuses(open_client: TestClient) -> None:
    spec = open_client.get("/openapi.json").json()
    operation = spec["paths"][ANALYZE]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "429", "4XX", "500", "503"}
    assert all(r["content"]["application/json"]["schema"]["$ref"].endswith("/GoogleError")
               for code, r in operation["responses"].items() if code != "200")
    assert "/$discovery/rest" not in spec["paths"]


# --- doNotStore: nothing kept, neither in the database nor in the model's score cache -------------------------


class PerspectiveModel:
    """A stand-in learnt model, so the pipeline's score cache is in play."""

    version = "fake-perspective"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)
    review_bands = dict.fromkeys(LABELS, (0.4, 0.6))
    languages = ("en",)

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{**dict.fromkeys(LABELS, 0.05), "abusive": 0.9 if "idiot" in t else 0.05} for t in texts]


def _traces(data_dir: Path, text: str) -> list[str]:
    """The files under ``data_dir`` (database, WAL, outbox) holding ``text`` or its SHA-256."""
    needles = [text.encode(), hashlib.sha256(text.encode()).hexdigest().encode()]
    return [str(p) for p in data_dir.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def test_do_not_store_keeps_no_text_no_hash_and_no_cache_entry(tmp_path: Path, rules_engine: RulesEngine) -> None:
    app = create_app(make_settings(tmp_path, model_poll_seconds=0))
    private = "Private: my neighbour is an idiot and lives at number 12"
    public = "Public: the caretaker is an idiot"
    with TestClient(app) as client:
        app.state.pipeline = Pipeline(rules_engine, PerspectiveModel(), cache_size=16, languages=LanguageDetector())  # type: ignore[arg-type]
        for text, do_not_store in ((private, True), (public, False)):
            answer = client.post(ANALYZE, json={"comment": {"text": text}, "doNotStore": do_not_store,
                                                "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}})
            assert answer.status_code == 200 and answer.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == 0.9
        with app.state.session_factory() as session:
            stored = session.scalars(select(ClassificationRecord.text_sha256)).all()
            reviews = session.scalar(select(func.count()).select_from(ReviewItem))
        cached = list(app.state.pipeline._cache)
    assert stored == [hashlib.sha256(public.encode()).hexdigest()] and reviews == 0  # stored as a normal classification
    assert cached == [public]  # the private text was scored, and is not in the cache
    assert _traces(tmp_path, private) == [] and _traces(tmp_path, public)  # the check can find what is there
