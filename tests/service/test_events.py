"""Events out without HTTP: the signature, the subscribers' file, the rows written in the same transaction as
what they report, the outbox file carrying them, the deadline check on a fake clock, claims and erasure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from model.loader import build_pipeline
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from model.shipped import POLICY_FILE, STAFF_ROSTER
from service.comments import Decided, Submission, classify, drop_records, insert_rows, rows, store
from service.db.deliveries import Claimed, claim, requeue, settle
from service.db.migrate import upgrade
from service.db.models import ClassificationRecord, EventDelivery, ReviewItem
from service.db.review import claim as claim_item
from service.db.review import decide
from service.db.session import is_unavailable, make_engine, make_session_factory
from service.erasure import erase_author
from service.events import (
    EVENT_TYPES,
    SESSION_KEY,
    EventsConfigError,
    Subscribers,
    body_of,
    check_deadlines,
    delivery_rows,
    model_promoted,
    signed_headers,
)
from service.outbox import Outbox
from tests.api.conftest import database_url, postgres_url  # noqa: F401 - the fixtures, on SQLite and PostgreSQL

SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:  # noqa: F811
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def subscribers(tmp_path: Path, events: list[str], *, name: str = "crm") -> Subscribers:
    path = tmp_path / f"events-{name}.yaml"
    path.write_text(yaml.safe_dump({"subscribers": [{"name": name, "url": "https://crm.example.org/hook", "events": events,
                                                     "secret_env": "CRM_SECRET"}]}), encoding="utf-8")
    return Subscribers.load(path).with_secrets({"CRM_SECRET": SECRET})


@pytest.fixture(scope="module")
def decided() -> list[Decided]:
    pipeline, _ = build_pipeline(staff_roster=STAFF_ROSTER, model_dir=None)
    policy = PolicyEngine(load_policy(POLICY_FILE))
    items = [Submission(text="useless f***ing clowns, call me on 07700 900123", channel="facebook", author_id="fb-1", id="c1"),
             Submission(text="Huge thanks to the repairs team", channel="instagram", author_id="ig-2", id="c2")]
    return classify(pipeline, policy, items, secret=b"s")


# --- the signature ---

def test_the_signature_reproduces_the_standard_webhooks_test_vector() -> None:
    # The vector from the specification's reference library (libraries/python/tests/test_webhooks.py, test_sign_function).
    secret = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = signed_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", b'{"test": 2432232314}',
                             now=datetime.fromtimestamp(1614265330, UTC))
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330" and headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_a_subscriber_verifies_an_event_with_the_specs_algorithm_and_refuses_a_changed_body() -> None:
    secret = base64.b64decode(SECRET.removeprefix("whsec_"))
    body = body_of({"type": "review.decided", "timestamp": "2026-12-02T10:00:00Z", "data": {"record_id": "r1"}})
    headers = signed_headers(secret, "evt-1", body)
    expected = base64.b64encode(hmac.new(secret, f"evt-1.{headers['webhook-timestamp']}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert Webhook(SECRET).verify(body, headers)["data"] == {"record_id": "r1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"r1", b"r2"), headers)


# --- the subscribers' file ---

@pytest.mark.parametrize(("subscriber", "says"), [
    ({"events": ["classification.made", "comment.deleted"]}, "comment.deleted"),
    ({"url": "ftp://crm.example.org"}, "http:// or https://"),
    ({"secret_env": "whsec_abc=="}, "never goes in this file"),
    ({"events": []}, "events"),
    ({"colour": "blue"}, "colour"),
])
def test_a_bad_events_file_is_refused_naming_what_to_fix(tmp_path: Path, subscriber: dict[str, Any], says: str) -> None:
    path = tmp_path / "events.yaml"
    good = {"name": "crm", "url": "https://crm.example.org/hook", "events": ["action.due"], "secret_env": "CRM_SECRET"}
    path.write_text(yaml.safe_dump({"subscribers": [{**good, **subscriber}]}), encoding="utf-8")
    with pytest.raises(EventsConfigError, match=str(path)) as refused:
        Subscribers.load(path)
    assert says in str(refused.value)


def test_an_unknown_event_type_is_refused_with_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(EventsConfigError) as refused:
        subscribers(tmp_path, ["review.decided", "comment.deleted"])
    assert all(kind in str(refused.value) for kind in EVENT_TYPES)


@pytest.mark.parametrize(("value", "says"), [
    (None, "CRM_SECRET (its signing secret) is not set"), ("hunter2", "must start with whsec_"),
    ("whsec_not base64!", "not valid base64"), ("whsec_" + base64.b64encode(b"short").decode(), "holds 5 bytes"),
])
def test_a_missing_or_weak_secret_is_refused_naming_the_variable(tmp_path: Path, value: str | None, says: str) -> None:
    loaded = subscribers(tmp_path, ["action.due"]).specs
    with pytest.raises(EventsConfigError, match="CRM_SECRET") as refused:
        Subscribers(loaded).with_secrets({"CRM_SECRET": value} if value else {})
    assert says in str(refused.value)


# --- rows in the same transaction ---

def test_without_a_subscriber_for_them_classifications_write_no_event(tmp_path: Path, decided: list[Decided]) -> None:
    assert EventDelivery.__tablename__ not in rows(decided)
    assert EventDelivery.__tablename__ not in rows(decided, events=subscribers(tmp_path, ["review.decided"]))


def test_classification_and_action_events_carry_ids_labels_and_actions_but_no_text_or_author(
        tmp_path: Path, decided: list[Decided]) -> None:
    out = rows(decided, origin="suggested", events=subscribers(tmp_path, ["classification.made", "action.due"]))
    events = out[EventDelivery.__tablename__]
    made = [e for e in events if e["type"] == "classification.made"]
    due = [e for e in events if e["type"] == "action.due"]
    assert [e["payload"]["data"]["comment_id"] for e in made] == ["c1", "c2"]
    assert len(due) == sum(1 for d in decided if d.decision.actions) >= 1
    first = made[0]["payload"]["data"]
    assert first["record_id"] == decided[0].record_id and "abusive" in first["labels"]
    assert first["review_item_id"] == out[ReviewItem.__tablename__][0]["id"]
    assert {a["action"] for a in due[0]["payload"]["data"]["actions"]} == {a.action for a in decided[0].decision.actions}
    sent = json.dumps([e["payload"] for e in events])
    for item in decided:
        assert item.submission.text not in sent and "07700" not in sent
        assert item.submission.author_id and item.author_hash
        assert item.submission.author_id not in sent and item.author_hash not in sent


def test_events_are_inserted_with_their_records_and_dropped_with_them(
        tmp_path: Path, sessions: sessionmaker[Session], decided: list[Decided]) -> None:
    out = rows(decided, events=subscribers(tmp_path, ["classification.made"]))
    kept = drop_records(out, {decided[0].record_id})
    assert [e["classification_id"] for e in kept[EventDelivery.__tablename__]] == [decided[1].record_id]
    with sessions() as session:
        insert_rows(session, out)
        session.commit()
        insert_rows(session, out, skip_existing=True)  # written again (a replay): nothing is duplicated
        session.commit()
        assert sorted(map(str, session.scalars(select(EventDelivery.classification_id)))) == sorted(d.record_id for d in decided)


def test_the_outbox_file_carries_the_events_while_the_database_is_down(
        tmp_path: Path, sessions: sessionmaker[Session], decided: list[Decided]) -> None:
    out = rows(decided, events=subscribers(tmp_path, ["classification.made", "action.due"]))
    outbox = Outbox(tmp_path / "outbox")
    outbox.append(out)
    assert outbox.replay(sessions) == len(decided)
    with sessions() as session:
        stored = session.scalars(select(EventDelivery)).all()
    assert sorted(d.event_id for d in stored) == sorted(e["event_id"] for e in out[EventDelivery.__tablename__])
    assert all(d.status == "pending" and d.next_attempt_at is not None for d in stored)


def test_a_moderators_decision_writes_review_decided_in_its_own_transaction(
        tmp_path: Path, sessions: sessionmaker[Session], decided: list[Decided]) -> None:
    sessions.configure(info={SESSION_KEY: subscribers(tmp_path, ["review.decided"])})
    with sessions() as session:
        store(session, decided, origin="suggested")
        session.commit()
        item = session.scalars(select(ReviewItem).where(ReviewItem.classification_id == decided[1].record_id)).one()
        claim_item(session, item.id, "sam")
        with pytest.raises(Exception, match="labels"):
            decide(session, item.id, "sam", labels=["no-such-label"], flags=[], action=None, note=None)
        assert session.scalars(select(EventDelivery)).all() == []  # refused: rolled back with the decision
        decide(session, item.id, "sam", labels=["compliment"], flags=[], action="none", note="quotes the comment")
        [event] = session.scalars(select(EventDelivery)).all()
    data = event.payload["data"]
    assert (event.type, event.item_id, data["moderator"], data["labels"]) == ("review.decided", item.id, "sam", ["compliment"])
    assert "note" not in data and "quotes" not in json.dumps(event.payload)


def test_a_promotion_is_told_to_the_subscribers_who_want_it(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        promotion = {"version": "v2", "previous": "v1", "at": "2026-12-02T10:00:00+00:00", "reason": "promoted by hand"}
        assert model_promoted(session, promotion) == 0  # nobody subscribed through this session
    sessions.configure(info={SESSION_KEY: subscribers(tmp_path, ["model.promoted"])})
    with sessions() as session:
        assert model_promoted(session, promotion) == 1
        session.commit()
        [event] = session.scalars(select(EventDelivery)).all()
    assert event.payload == {"type": "model.promoted", "timestamp": "2026-12-02T10:00:00Z",
                             "data": {"version": "v2", "previous": "v1", "reason": "promoted by hand"}}


def test_sift_models_promote_writes_the_event_to_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import models as cli_models
    from model.classifier import MODEL_META_FILE
    from service.db.migrate import upgrade
    from service.db.session import make_engine

    file = subscribers(tmp_path, ["model.promoted"])  # writes events-crm.yaml
    assert file.specs
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIFT_EVENTS_FILE", str(tmp_path / "events-crm.yaml"))
    (tmp_path / "models" / "v7").mkdir(parents=True)
    (tmp_path / "models" / "v7" / MODEL_META_FILE).write_text(json.dumps({"version": "v7"}), encoding="utf-8")
    cli_models._registry().promote("v7", reason="first model")
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    with Session(make_engine(url)) as session:
        [event] = session.scalars(select(EventDelivery)).all()
    assert (event.type, event.payload["data"]["version"]) == ("model.promoted", "v7")


# --- deadlines on a fake clock ---

DUE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_deadline_check_fires_at_risk_then_breached_once_each(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    subs = subscribers(tmp_path, ["sla.at_risk", "sla.breached"])
    with sessions() as session:
        for n, status in ((1, "open"), (2, "decided")):  # the decided one was answered in time: nothing fires for it
            session.add_all([ClassificationRecord(id=f"r{n}", labels=["query"], scores={}, flags={}, source="rules",
                                                  review_reasons=[], evidence=[], text_sha256="0" * 64, respond_by=DUE),
                             ReviewItem(id=f"i{n}", classification_id=f"r{n}", status=status, due_at=DUE, reasons=[])])
        session.commit()
        warning = timedelta(minutes=30)
        fired = [check_deadlines(session, subs, now=DUE + offset, warning=warning)
                 for offset in (timedelta(hours=-2), timedelta(minutes=-20), timedelta(minutes=-10), timedelta(minutes=1),
                                timedelta(hours=5))]
        assert fired == [{"sla.at_risk": 0, "sla.breached": 0}, {"sla.at_risk": 1, "sla.breached": 0},
                         {"sla.at_risk": 0, "sla.breached": 0}, {"sla.at_risk": 0, "sla.breached": 1},
                         {"sla.at_risk": 0, "sla.breached": 0}]
        assert {d.item_id for d in session.scalars(select(EventDelivery))} == {"i1"}


def test_two_workers_firing_the_same_deadline_write_it_once(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    from service.events import emit

    subs = subscribers(tmp_path, ["sla.breached"])
    with sessions() as one, sessions() as two:
        assert emit(one, "sla.breached", {"review_item_id": "i1"}, subscribers=subs, item_id="i1", event_id="fixed") == 1
        one.commit()
        assert emit(two, "sla.breached", {"review_item_id": "i1"}, subscribers=subs, item_id="i1", event_id="fixed") == 0
        two.commit()
        assert len(two.scalars(select(EventDelivery)).all()) == 1


# --- claims, attempts, replays ---

def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(tmp_path: Path, sessions: sessionmaker[Session],
                                                                       decided: list[Decided]) -> None:
    with sessions() as session:
        insert_rows(session, rows(decided, events=subscribers(tmp_path, ["classification.made"])))
        session.commit()
        now = datetime.now(UTC)
        first = claim(session, now=now, limit=10, lease=timedelta(seconds=30))
        assert len(first) == 2 and claim(session, now=now, limit=10, lease=timedelta(seconds=30)) == []
        again = claim(session, now=now + timedelta(seconds=31), limit=10, lease=timedelta(seconds=30))  # the worker died
        assert {c.id for c in again} == {c.id for c in first}
        assert not settle(session, first[0], delivered=True, error=None, now=now, retry_at=None)  # its lease is gone
        assert settle(session, again[0], delivered=False, error="HTTP 503", now=now, retry_at=None)
        session.commit()
        dead = session.get(EventDelivery, again[0].id)
        assert dead is not None and (dead.status, dead.attempts, dead.last_error) == ("dead", 1, "HTTP 503")
        assert requeue(session, dead.event_id) == 1
        session.refresh(dead)
        assert (dead.status, dead.attempts) == ("pending", 0)


def test_workers_claiming_at_once_never_hold_the_same_delivery(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    subs = subscribers(tmp_path, ["model.promoted"])
    start = datetime.now(UTC) - timedelta(seconds=1)
    with sessions() as session:
        session.execute(insert(EventDelivery), [row for n in range(60) for row in
                                                delivery_rows(subs, "model.promoted", {"version": f"v{n}"}, at=start)])
        session.commit()

    def worker(_: int) -> list[Claimed]:
        held: list[Claimed] = []
        empty = 0
        while empty < 3:
            try:
                with sessions() as session:
                    got = claim(session, now=datetime.now(UTC), limit=4, lease=timedelta(minutes=5))
            except Exception as exc:
                if not is_unavailable(exc):  # SQLite: another writer went first; try again
                    raise
                continue
            held += got
            empty = empty + 1 if not got else 0
        return held

    with ThreadPoolExecutor(4) as pool:
        claimed = [c.id for held in pool.map(worker, range(4)) for c in held]
    assert len(claimed) == 60 and len(set(claimed)) == 60


def test_erasing_an_author_removes_the_events_about_their_comments(tmp_path: Path, sessions: sessionmaker[Session],
                                                                   decided: list[Decided]) -> None:
    with sessions() as session:
        insert_rows(session, rows(decided, events=subscribers(tmp_path, ["classification.made"])))
        session.commit()
        erase_author(session, b"s", channel="facebook", author_id="fb-1", actor="dpo")
        left = session.scalars(select(EventDelivery.classification_id)).all()
    assert left == [decided[1].record_id]
