"""Coral's external moderation phase against sift: requests built and signed as Coral builds and signs them.

What Coral does, from its source (coralproject/talk):

- ``server/src/core/server/services/comments/pipeline/phases/external.ts``: the request (action, comment.body and
  parentID, author.id and role, story.id and url, site.id, tenantID, tenantDomain), sent with
  ``generateFetchOptions`` and ``timeout: phase.timeout`` (milliseconds); a non-2xx answer is logged and skipped;
  204, ``""`` or ``{}`` mean nothing to do; any other body must pass its Joi schema (``stripUnknown``).
- ``server/src/core/server/services/fetch/fetch.ts``: ``body = JSON.stringify(data, null, 2)``, the
  ``X-Coral-Signature`` header, ``Content-Type: application/json``, ``User-Agent: Coral Moderation/<version>``.
- ``server/src/core/server/models/settings/signingSecret/helpers.ts``: ``generateSignatures`` HMAC-SHA256s the body
  with each active secret and joins ``sha256=<hex>`` values with ``,``.
- ``EXTERNAL_MODERATION_PHASES.md``: the request examples used here, and the answers Coral takes.

:func:`coral_body` and :func:`coral_signature` below follow those lines; :func:`as_coral_reads` applies the answer
schema of ``external.ts`` (its allowed values, and Joi's refusal of a ``null`` where a string is expected).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from api.deps import get_batcher, get_pipeline, get_store
from api.main import create_app
from model.pipeline import Pipeline
from model.result import Classification
from service.coral import plain_text, signature_ok, signatures
from service.db.models import ClassificationRecord, ReviewItem
from service.db.session import make_engine, make_session_factory
from service.settings import Settings
from tests.api.conftest import make_settings
from tests.logscan import sensitive

SECRET = sensitive("ems_3f1c0d5e8b9a4c7d2e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b")
OLD_SECRET = sensitive("ems_0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071")
STORY_URL = "http://localhost:1313/posts/a-story-url/"
CORAL_HEADERS = {"Content-Type": "application/json", "User-Agent": "Coral Moderation/9.0.0"}

# external.ts, ExternalModerationResponseSchema (Coral 7-8) and the Coral 9 moderationAction.
CORAL_STATUSES = {"NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"}
CORAL_FLAG_REASONS = {"COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"}
CORAL_TAGS = {"FEATURED", "STAFF"}


def coral_request(body: str, *, parent_id: str | None = None, action: str = "NEW") -> dict[str, Any]:
    """An External Moderation Request, as external.ts builds it (ids from EXTERNAL_MODERATION_PHASES.md's example)."""
    return {
        "action": action,
        "comment": {"body": body, "parentID": parent_id},
        "author": {"id": "baf4e943-3594-4fcc-b2ba-3e8de7a76352", "role": "COMMENTER"},
        "story": {"id": "245b3856-b0a0-4d2f-a6bb-58c71f18d6a6", "url": STORY_URL},
        "site": {"id": "a4bede88-2d2c-4424-bc18-4322a9e285a6"},
        "tenantID": "19ba5794-7eeb-4d46-a81b-c00c61672501",
        "tenantDomain": "localhost",
    }


def coral_body(request: dict[str, Any]) -> bytes:
    """``JSON.stringify(data, null, 2)``: two-space indent, ``": "`` and ``,`` separators, non-ASCII as is."""
    return json.dumps(request, indent=2, ensure_ascii=False).encode()


def coral_signature(body: bytes, *secrets: str) -> str:
    """``generateSignatures``: ``sha256=<hex HMAC-SHA256 of the body>`` for each active secret, joined by ``,``."""
    return ",".join("sha256=" + hmac.new(s.encode(), body, hashlib.sha256).digest().hex() for s in secrets)


def as_coral_reads(answer: dict[str, Any]) -> dict[str, Any]:
    """What Coral keeps of an answer (``stripUnknown``), failing where its Joi schema would refuse the answer."""
    kept: dict[str, Any] = {}
    if "status" in answer:
        assert answer["status"] in CORAL_STATUSES, answer["status"]  # Joi.string().only(): null is refused too
        kept["status"] = answer["status"]
    if "actions" in answer:
        for action in answer["actions"]:
            assert action["actionType"] == "FLAG" and action["reason"] in CORAL_FLAG_REASONS, action
        kept["actions"] = [{"actionType": a["actionType"], "reason": a["reason"]} for a in answer["actions"]]
    if "tags" in answer:
        assert set(answer["tags"]) <= CORAL_TAGS, answer["tags"]
        kept["tags"] = answer["tags"]
    if "moderationAction" in answer:
        moderation = answer["moderationAction"]
        assert moderation["status"] in CORAL_STATUSES and isinstance(moderation["rejectionReason"]["code"], str)
        assert all(value is not None for value in moderation["rejectionReason"].values()), moderation
        kept["moderationAction"] = moderation
    return kept


def make_client(tmp_path: Path, *, raise_server_exceptions: bool = True, **overrides: object) -> Iterator[TestClient]:
    # A long timeout unless a test is about it: on a busy machine the decision still comes back whole.
    values: dict[str, object] = {"coral_signing_secret": SECRET, "model_poll_seconds": 0, "coral_timeout_ms": 30_000}
    values.update(overrides)
    app = create_app(make_settings(tmp_path, **values))
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        # The first phone number the rules meet compiles phonenumbers' patterns (about 0.3 to 0.8 s): done here,
        # so the deadline tests time the request, not that.
        client.post("/classify", json={"text": "warming the rules up: you idiots, call 07700 900000"})
        yield client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the tests that need no settings of their own (they count the records they add)."""
    yield from make_client(tmp_path_factory.mktemp("coral"))


def send(client: TestClient, request: dict[str, Any] | bytes, *secrets: str, signature: str | None = None) -> Any:
    body = request if isinstance(request, bytes) else coral_body(request)
    headers = dict(CORAL_HEADERS)
    header = signature if signature is not None else coral_signature(body, *(secrets or (SECRET,)))
    if header:
        headers["X-Coral-Signature"] = sensitive(header)
    return client.post("/coral/moderate", content=body, headers=headers)


def records(client: TestClient) -> list[ClassificationRecord]:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(ClassificationRecord)))


def stored_count(client: TestClient) -> int:
    return len(records(client))


def sent(client: TestClient, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """The answer, and how many records the request added."""
    before = stored_count(client)
    answer = send(client, *args, **kwargs)
    return answer, stored_count(client) - before


# -- the round trip --------------------------------------------------------------------------------------
def test_personal_details_are_rejected_with_the_policys_reason_and_the_comment_is_stored(client: TestClient) -> None:
    # Coral's default Comment Body Format is HTML.
    answer = send(client, coral_request("<p>Still no repair. Call me on 07700&nbsp;900123 please</p>",
                                        parent_id="d79b787f-f406-49a0-a179-72e3652e54be"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert as_coral_reads(body)["status"] == "REJECTED"
    assert body["moderationAction"]["rejectionReason"] == {
        "code": "OTHER", "customReason": "personal details",
        "detailedExplanation": "personal details or a vulnerability disclosed on a public page"}
    note = body["metadata"]["sift"]
    assert note["answered_from"] == "decision" and note["stored"] == "committed" and "pii" in note["labels"]
    assert {"action": "delete_post", "reason": "personal details or a vulnerability disclosed on a public page",
            "rule": "personal_data"} in note["actions"]
    (record,) = [r for r in records(client) if r.id == note["record_id"]]
    assert (record.channel, record.url, record.parent_id, record.external_id) == (
        "other", STORY_URL, "d79b787f-f406-49a0-a179-72e3652e54be", None)
    assert "pii" in record.labels


def test_abuse_is_rejected_and_flagged_toxic_and_spam_flagged_spam(client: TestClient) -> None:
    abuse = send(client, coral_request("you useless idiots")).json()
    assert as_coral_reads(abuse) == {
        "status": "REJECTED", "tags": [],
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
        "moderationAction": {"status": "REJECTED", "rejectionReason": {
            "code": "ABUSIVE", "detailedExplanation": "swearing, abuse or obscenity"}}}
    spam = send(client, coral_request("buy cheap followers at http://spam.example.com")).json()
    assert spam["actions"][0]["reason"] == "COMMENT_DETECTED_SPAM"
    assert spam["moderationAction"]["rejectionReason"]["code"] == "SPAM"


def test_a_comment_a_person_must_read_first_is_withheld_for_review(client: TestClient) -> None:
    body = send(client, coral_request("damn it the lift is broken again")).json()
    assert as_coral_reads(body) == {"status": "SYSTEM_WITHHELD", "actions": [], "tags": []}
    note = body["metadata"]["sift"]
    assert note["needs_review"] and note["review_reasons"]
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(ReviewItem).where(ReviewItem.classification_id == note["record_id"])) is not None


def test_when_sift_has_nothing_for_coral_to_do_it_answers_204_and_still_keeps_the_decision(client: TestClient) -> None:
    answer, added = sent(client, coral_request("when is my boiler being fixed?", action="EDIT"))
    assert answer.status_code == 204 and answer.content == b""
    assert added == 1


def test_a_comment_without_words_gets_204_and_nothing_is_stored(client: TestClient) -> None:
    answer, added = sent(client, coral_request("<p> </p><p><br></p>"))
    assert answer.status_code == 204 and added == 0


def test_while_a_rotated_secret_is_active_coral_signs_with_both_and_the_configured_one_is_enough(client: TestClient) -> None:
    assert send(client, coral_request("you useless idiots"), OLD_SECRET, SECRET).status_code == 200


# -- refusals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "signature"), [
    ("signed with another secret", lambda body: coral_signature(body, OLD_SECRET)),
    ("the body changed after signing", lambda body: coral_signature(body.replace(b"idiots", b"people"), SECRET)),
    ("no header", lambda body: ""),
    ("another scheme only", lambda body: "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()),
    ("not hex", lambda body: "sha256=not-a-signature"),
])
def test_a_request_whose_signature_does_not_match_is_refused_401_and_nothing_is_kept(
        client: TestClient, case: str, signature: Callable[[bytes], str]) -> None:
    body = coral_body(coral_request("you useless idiots"))
    answer, added = sent(client, body, signature=signature(body))
    assert answer.status_code == 401, case
    assert "X-Coral-Signature" in answer.json()["error"]
    assert added == 0


def test_without_a_signing_secret_configured_the_answer_says_which_setting_to_set(tmp_path: Path) -> None:
    for client in make_client(tmp_path, coral_signing_secret=""):
        answer = send(client, coral_request("you useless idiots"))
        assert answer.status_code == 404
        assert "SIFT_CORAL_SIGNING_SECRET" in answer.json()["error"]
        assert stored_count(client) == 1  # the warm-up comment only


@pytest.mark.parametrize(("body", "field", "says"), [
    (b"{\"action\": \"NEW\", ", "body", "not valid JSON"),
    (b"[\"a list\"]", "body", "should be an object"),
    (coral_body({"action": "NEW", "comment": {"body": "hello"}}), "author", "required"),
    (coral_body({**coral_request("hello"), "action": "DELETE"}), "action", "'NEW' or 'EDIT'"),
    (coral_body({**coral_request("hello"), "comment": {"parentID": None}}), "comment.body", "required"),
    (coral_body(coral_request("a" * 10_001)), "comment.body", "10000"),
])
def test_a_signed_body_that_is_not_a_moderation_request_gets_a_422_naming_the_field(
        client: TestClient, body: bytes, field: str, says: str) -> None:
    answer, added = sent(client, body)
    assert answer.status_code == 422, answer.text
    details = answer.json()["details"]
    assert any(d["field"] == field and says in d["message"] for d in details), details
    assert added == 0


class RefusingStore:
    async def save(self, rows: Any) -> Any:
        raise RuntimeError("a bug in storing")


def test_a_decision_that_cannot_be_stored_in_time_is_a_server_error_not_an_answer_coral_would_act_on(
        tmp_path: Path) -> None:
    for client in make_client(tmp_path, raise_server_exceptions=False):
        client.app.dependency_overrides[get_store] = RefusingStore  # type: ignore[attr-defined]
        answer = send(client, coral_request("you useless idiots"))
    assert answer.status_code == 500 and "REJECTED" not in answer.text  # Coral skips a non-2xx and goes on


def test_a_margin_as_long_as_the_timeout_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SIFT_CORAL_MARGIN_MS"):
        Settings(data_dir=tmp_path, coral_timeout_ms=200, coral_margin_ms=200)


# -- the timeout -----------------------------------------------------------------------------------------
class GatedBatcher:
    """The model step, held until the test opens the gate (a model slower than any timeout)."""

    def __init__(self, pipeline: Pipeline, gate: threading.Event):
        self.pipeline, self.gate = pipeline, gate

    async def run(self, texts: list[str], then: Callable[[list[Classification]], Any], *, remember: bool = True) -> Any:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        return then(self.pipeline.classify_many(texts, remember=[remember] * len(texts)))


class GatedRules:
    """The rules engine, held until the test opens the gate."""

    def __init__(self, rules: Any, gate: threading.Event):
        self.rules, self.gate = rules, gate

    def analyze(self, *args: Any, **kwargs: Any) -> Any:
        self.gate.wait(timeout=30)
        return self.rules.analyze(*args, **kwargs)


def wait_for(condition: Callable[[], bool]) -> bool:
    """Polls until the background decision has landed (bounded, so a lost comment fails instead of hanging)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def provide(value: Any) -> Callable[[], Any]:
    """A dependency override answering ``value`` (a lambda's default argument would read as a query parameter)."""
    return lambda: value


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[tuple[TestClient, threading.Event, threading.Event]]:
    model, rules = threading.Event(), threading.Event()
    for client in make_client(tmp_path, coral_timeout_ms=1500, coral_margin_ms=200):
        app: Any = client.app
        real = app.state.pipeline
        batcher = GatedBatcher(real, model)
        gated = Pipeline(GatedRules(real.rules, rules), None, real.policy,  # type: ignore[arg-type]
                         languages=real.languages, rules_budget=real.rules_budget)
        app.dependency_overrides[get_batcher] = provide(batcher)
        app.dependency_overrides[get_pipeline] = provide(gated)
        try:
            yield client, model, rules
        finally:
            model.set()
            rules.set()


def test_when_the_model_misses_the_deadline_coral_gets_the_rules_answer_and_the_decision_is_still_stored(
        slow: tuple[TestClient, threading.Event, threading.Event]) -> None:
    client, model, rules = slow
    rules.set()  # the rules are quick; the model is held past the deadline
    answer = send(client, coral_request("you useless idiots, call me on 07700 900123"))
    # The model had not answered when Coral got its answer: nothing could have been stored yet.
    assert stored_count(client) == 1  # the warm-up comment only
    body = answer.json()
    assert answer.status_code == 200 and as_coral_reads(body)["status"] == "REJECTED"
    note = body["metadata"]["sift"]
    assert (note["answered_from"], note["record_id"], note["stored"], note["source"]) == ("rules in time", None, None, "rules")
    assert {"abusive", "pii"} <= set(note["labels"])
    model.set()
    assert wait_for(lambda: stored_count(client) == 2), "the comment was lost after the deadline"
    assert not getattr(client.app.state, "coral_pending", set())  # type: ignore[attr-defined]


def test_when_nothing_is_ready_by_the_deadline_the_answer_is_204_and_the_comment_is_kept(
        slow: tuple[TestClient, threading.Event, threading.Event]) -> None:
    client, model, rules = slow
    answer = send(client, coral_request("you useless idiots"))
    assert answer.status_code == 204 and stored_count(client) == 1  # the warm-up comment only
    rules.set()
    model.set()
    assert wait_for(lambda: stored_count(client) == 2), "the comment was lost after the deadline"
    record = max(records(client), key=lambda r: r.created_at)
    assert record.channel == "other" and record.url == STORY_URL and "abusive" in record.labels


def test_a_decision_still_running_at_shutdown_is_stored_before_sift_stops(tmp_path: Path) -> None:
    model = threading.Event()
    running = make_client(tmp_path, coral_timeout_ms=1500, coral_margin_ms=200)
    client = next(running)
    app: Any = client.app
    app.dependency_overrides[get_batcher] = provide(GatedBatcher(app.state.pipeline, model))
    answer = send(client, coral_request("you useless idiots"))
    assert answer.status_code == 200 and stored_count(client) == 1  # answered from the rules; the model is held
    url = app.state.settings.effective_database_url
    threading.Timer(0.5, model.set).start()  # the model answers while sift is shutting down
    running.close()  # the app's shutdown
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(ClassificationRecord))
    engine.dispose()
    assert count == 2, "the decision Coral was answered without was dropped at shutdown"


# -- the pieces ------------------------------------------------------------------------------------------
def test_the_signature_check_takes_any_sha256_entry_and_only_the_exact_hmac() -> None:
    body = coral_body(coral_request("hello"))
    header = coral_signature(body, OLD_SECRET, SECRET)
    assert signatures(header) == [header.split(",")[0][7:], header.split(",")[1][7:]]
    assert signature_ok(SECRET.encode(), body, header) and signature_ok(OLD_SECRET.encode(), body, header)
    assert not signature_ok(b"ems_other", body, header)
    assert not signature_ok(SECRET.encode(), body + b" ", header)
    assert not signature_ok(SECRET.encode(), body, None)


@pytest.mark.parametrize(("body", "text"), [
    ("Here's a comment!", "Here's a comment!"),
    ("<p>Line one<br>line two</p><p>&lt;b&gt; &amp; more</p>", "Line one\nline two\n<b> & more"),
    ("<p><strong>bold</strong> and <em>soft</em></p>", "bold and soft"),
    ("  <div></div>  ", ""),
    ('<p>see <a href="http://spam.example/x">this</a></p>', "see this (http://spam.example/x)"),
    ('<a href="http://localhost/a">http://localhost/a</a>', "http://localhost/a"),
    ("I <3 this & that", "I <3 this & that"),
])
def test_html_bodies_are_read_as_their_words(body: str, text: str) -> None:
    assert plain_text(body) == text
