"""Events out, end to end: the running app sends signed webhooks to a real subscriber on 127.0.0.1.

The subscriber (bench/subscriber.py) verifies each request with the Standard Webhooks reference library.
It is down for a while (its port closed, then answering 503), then slow (it keeps events but answers after
the sender's time-out, so they are sent again), then up: every event is delivered, none is lost, and a
repeat only ever carries the same event id. Deliveries that fail every attempt become dead
letters that ``sift events replay`` sends again; the deadline check fires sla.at_risk and sla.breached once
each on a fake clock.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.main import create_app
from bench.subscriber import Subscriber
from cli.main import app as cli
from service.db.deliveries import counts
from service.db.models import ClassificationRecord, EventDelivery, ReviewItem
from service.events import EVENT_TYPES, EventsConfigError
from tests.api.conftest import make_settings

SECRET = "whsec_" + base64.b64encode(b"sift-events-test-secret-32-bytes").decode()
SECRET_ENV = "SIFT_TEST_EVENTS_SECRET"
FAST = {"events_retry_first_seconds": 0.05, "events_retry_max_seconds": 0.3, "events_poll_seconds": 0.05,
        "events_timeout_seconds": 2.0}


def write_events_file(tmp_path: Path, url: str, events: list[str]) -> Path:
    path = tmp_path / "events.yaml"
    path.write_text(yaml.safe_dump({"base_url": "https://sift.example.org", "subscribers": [
        {"name": "crm", "url": url, "events": events, "secret_env": SECRET_ENV}]}), encoding="utf-8")
    return path


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    sub = Subscriber(SECRET)
    yield sub
    sub.stop()


@pytest.fixture
def events_app(tmp_path: Path, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FastAPI]:
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def make(events: list[str], **overrides: Any) -> FastAPI:
        settings = {**FAST, **overrides, "events_file": write_events_file(tmp_path, subscriber.url, events)}
        return create_app(make_settings(tmp_path, **settings))

    return make


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def status_counts(app: FastAPI) -> dict[str, int]:
    with app.state.session_factory() as session:
        return counts(session)


def deliveries(app: FastAPI) -> list[EventDelivery]:
    with app.state.session_factory() as session:
        return list(session.scalars(select(EventDelivery)))


COMMENTS = ["How do I report a repair online?", "Waited in all day, nobody turned up", "useless f***ing clowns",
            "call me on 07700 900123", "Huge thanks to the repairs team", "Another rent increase. Typical."]


def test_a_subscriber_down_for_a_while_then_up_gets_every_event_and_repeats_only_keep_their_id(
        events_app: Callable[..., FastAPI], subscriber: Subscriber) -> None:
    app = events_app(["classification.made", "action.due"], events_timeout_seconds=0.5)
    with TestClient(app) as client:
        # Down: the port is closed (connections refused) while 12 comments are classified.
        for i in range(12):
            assert client.post("/classify", json={"text": COMMENTS[i % len(COMMENTS)], "id": f"c{i}"}).status_code == 200
        assert wait_for(lambda: min(d.attempts for d in deliveries(app)) >= 2), "no retries while the port was closed"
        # Still down: up, but answering 503.
        subscriber.status = 503
        subscriber.start()
        assert wait_for(lambda: subscriber.refused >= 5)
        # Up, but slow: it keeps each event and answers after the sender's time-out, so the sender tries again.
        subscriber.status, subscriber.delay = 200, 0.8
        assert wait_for(lambda: len(subscriber.received) >= 5)
        # Up.
        subscriber.delay = 0.0
        assert wait_for(lambda: status_counts(app)["pending"] == 0), status_counts(app)
        stored = deliveries(app)

    sent = {d.event_id for d in stored}
    received = subscriber.ids()
    print(f"\nevents written {len(sent)}, deliveries received {len(received)}, distinct {len(set(received))}, "
          f"refused while down {subscriber.refused}, most attempts {max(d.attempts for d in stored)}, "
          f"received twice or more (same id) {sum(1 for n in Counter(received).values() if n > 1)}")
    assert status_counts(app) == {"pending": 0, "delivered": len(stored), "dead": 0}
    assert len(stored) >= 12 and {d.type for d in stored} == {"classification.made", "action.due"}
    assert set(received) == sent, "an event was lost, or one arrived that was never written"
    assert subscriber.forged == 0
    # None delivered twice without the same id: each (type, record) reached the subscriber under one id only.
    ids_per_fact: dict[tuple[str, object], set[str]] = defaultdict(set)
    for r in subscriber.received:
        ids_per_fact[(r.type, r.data["record_id"])].add(r.event_id)
    assert all(len(ids) == 1 for ids in ids_per_fact.values())
    assert len(ids_per_fact) == len(sent)
    repeats = {i: n for i, n in Counter(received).items() if n > 1}
    assert repeats, "the slow answers should have made the sender try again"
    assert set(repeats) <= sent


def test_after_the_last_attempt_an_event_is_a_dead_letter_and_sift_events_replay_delivers_it(
        events_app: Callable[..., FastAPI], subscriber: Subscriber, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = events_app(["classification.made"], events_attempts=3)
    subscriber.status = 503
    subscriber.start()
    with TestClient(app) as client:
        record_id = client.post("/classify", json={"text": "Waited in all day, nobody turned up"}).json()["record_id"]
        assert wait_for(lambda: status_counts(app)["dead"] == 1), status_counts(app)
        [dead] = deliveries(app)
        assert (dead.attempts, dead.last_error, subscriber.refused) == (3, "HTTP 503", 3)
        assert dead.payload["data"]["record_id"] == record_id

        monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path))
        runner = CliRunner()
        listed = runner.invoke(cli, ["events", "dead"])
        assert listed.exit_code == 0 and dead.event_id in listed.output and "HTTP 503" in listed.output
        subscriber.status = 200
        replayed = runner.invoke(cli, ["events", "replay", "--all-dead"])
        assert replayed.exit_code == 0, replayed.output
        assert wait_for(lambda: status_counts(app)["delivered"] == 1), status_counts(app)
        again = runner.invoke(cli, ["events", "replay", "--all-dead"])
        assert again.exit_code == 1 and "no dead letters" in again.output
        after = runner.invoke(cli, ["events", "list"])
        print(f"\n$ sift events dead\n{listed.output}$ sift events replay --all-dead\n{replayed.output}"
              f"$ sift events list\n{after.output}", end="")

    assert subscriber.ids() == [dead.event_id]


DUE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _open_item(app: FastAPI) -> str:
    with app.state.session_factory() as session:
        record = ClassificationRecord(id="rec-sla", labels=["query"], scores={}, flags={}, source="rules", needs_review=True,
                                      review_reasons=["uncertain"], evidence=[], text_sha256="0" * 64, priority="high",
                                      respond_by=DUE, external_id="fb_123")
        item = ReviewItem(id="item-sla", classification_id=record.id, status="open", priority_rank=1, due_at=DUE, reasons=[])
        session.add_all([record, item])
        session.commit()
    return item.id


def test_the_scheduler_fires_sla_at_risk_then_sla_breached_once_each_for_an_item_left_unanswered_on_a_fake_clock(
        events_app: Callable[..., FastAPI], subscriber: Subscriber) -> None:
    app = events_app(["sla.at_risk", "sla.breached"], events_sla_check_seconds=0.05, events_sla_warning_minutes=30)
    subscriber.start()
    now = [DUE - timedelta(hours=2)]
    with TestClient(app):
        app.state.events_out.clock = lambda: now[0]
        item_id = _open_item(app)
        time.sleep(0.4)  # several checks, two hours before the deadline
        assert subscriber.ids() == []
        now[0] = DUE - timedelta(minutes=10)
        assert wait_for(lambda: len(subscriber.ids("sla.at_risk")) == 1)
        now[0] = DUE + timedelta(minutes=5)
        assert wait_for(lambda: len(subscriber.ids("sla.breached")) == 1)
        now[0] = DUE + timedelta(hours=3)
        time.sleep(0.4)  # several more checks, the item still open
    for r in subscriber.received:
        print(f"\nfake clock: {r.type} {r.event_id} for item {r.data['review_item_id']} due {r.data['due_at']} "
              f"({', '.join(f'{k} {v}' for k, v in r.data.items() if k.startswith('minutes'))})")
    assert Counter(r.type for r in subscriber.received) == {"sla.at_risk": 1, "sla.breached": 1}
    breached = next(r.data for r in subscriber.received if r.type == "sla.breached")
    assert breached == {"review_item_id": item_id, "record_id": "rec-sla", "comment_id": "fb_123", "channel": None,
                        "priority": "high", "due_at": DUE.isoformat(), "minutes_overdue": 5.0,
                        "review_url": f"https://sift.example.org/review/items/{item_id}"}


def test_a_missing_secret_stops_the_service_at_start_up_naming_the_variable(
        events_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch) -> None:
    app = events_app(list(EVENT_TYPES))
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(EventsConfigError, match=f"{SECRET_ENV} .* is not set"), TestClient(app):
        pass


def test_without_an_events_file_classify_writes_no_event(client: TestClient) -> None:
    assert client.post("/classify", json={"text": "Waited in all day, nobody turned up"}).status_code == 200
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(EventDelivery)).all() == []


def test_a_moderator_overturning_the_model_reaches_the_subscriber_without_the_note(
        events_app: Callable[..., FastAPI], subscriber: Subscriber) -> None:
    from service.db.repository import create_api_key

    app = events_app(["review.decided"])
    subscriber.start()
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            _, key = create_api_key(session, "tool", ["review"])
        posted = client.post("/classify", json={"text": "you w@nkers, those clowns", "id": "fb_9"}).json()
        pulled = client.post(f"/review/records/{posted['record_id']}/pull", headers={"X-API-Key": key}).json()
        decided = client.post(f"/review/items/{pulled['id']}/decision", headers={"X-API-Key": key},
                              json={"labels": ["negative"], "flags": [], "action": "public_reply", "note": "banter, not abuse"})
        assert decided.status_code == 200, decided.text
        assert wait_for(lambda: len(subscriber.received) == 1)
    [event] = subscriber.received
    assert event.type == "review.decided" and event.verified
    assert {k: event.data[k] for k in ("review_item_id", "record_id", "comment_id", "moderator", "labels", "action",
                                       "model_labels", "model_overturned")} == {
        "review_item_id": pulled["id"], "record_id": posted["record_id"], "comment_id": "fb_9", "moderator": "key:tool",
        "labels": ["negative"], "action": "public_reply", "model_labels": posted["labels"], "model_overturned": True}
    assert "banter" not in json.dumps(event.data) and "w@nkers" not in json.dumps(event.data)
