"""The inbound events table: one claim per (platform, event) whatever the concurrency, stale claims taken over, and
kept payloads purged with the retention period."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.db import inbound
from service.db.models import InboundEvent, UnknownPayload, utcnow

EVENTS = [inbound.Event(f"fb:1_{n}:abcd", f"1_{n}") for n in range(5)]


def test_concurrent_deliveries_of_the_same_events_claim_each_once(sessions: sessionmaker[Session]) -> None:
    def attempt(_: int) -> dict[str, str]:
        with sessions() as session:
            return inbound.claim(session, "meta", EVENTS, str(uuid.uuid4()))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    for event in EVENTS:
        assert sum(r[event.key] == "mine" for r in results) == 1, event.key
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundEvent)) == len(EVENTS)


def test_a_claim_is_seen_while_held_and_decided_after_marking(sessions: sessionmaker[Session]) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with sessions() as session:
        assert set(inbound.claim(session, "x", EVENTS[:1], first).values()) == {"mine"}
        assert set(inbound.claim(session, "x", EVENTS[:1], second).values()) == {"seen"}  # held by the first
        inbound.mark_decided(session, "x", [EVENTS[0].key], first)
        assert session.scalar(select(InboundEvent.status)) == "decided"
        assert set(inbound.claim(session, "meta", EVENTS[:1], second).values()) == {"mine"}  # keys are per platform


def test_a_released_claim_is_claimed_by_the_retry(sessions: sessionmaker[Session]) -> None:
    first, retry = str(uuid.uuid4()), str(uuid.uuid4())
    with sessions() as session:
        inbound.claim(session, "meta", EVENTS[:2], first)
        inbound.release(session, "meta", [e.key for e in EVENTS[:2]], first)
        assert set(inbound.claim(session, "meta", EVENTS[:2], retry).values()) == {"mine"}


def test_a_stale_claim_is_taken_over_but_a_decided_event_never_is(sessions: sessionmaker[Session]) -> None:
    dead, done, later = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    past = utcnow() - timedelta(seconds=inbound.CLAIM_STALE_SECONDS + 1)
    with sessions() as session:
        inbound.claim(session, "meta", EVENTS[:1], dead, now=past)  # its attempt died
        inbound.claim(session, "meta", EVENTS[1:2], done, now=past)
        inbound.mark_decided(session, "meta", [EVENTS[1].key], done)
        states = inbound.claim(session, "meta", EVENTS[:2], later)
    assert states == {EVENTS[0].key: "mine", EVENTS[1].key: "seen"}


def test_kept_payloads_are_one_row_per_body_and_purged_after_the_retention_period(sessions: sessionmaker[Session]) -> None:
    old = utcnow() - timedelta(days=91)
    with sessions() as session:
        first = inbound.keep_unknown(session, "meta", b'{"a": 1}', "entry: unknown", "application/json", now=old)
        again = inbound.keep_unknown(session, "meta", b'{"a": 1}', "entry: unknown", "application/json", now=old)
        fresh, _ = inbound.keep_unknown(session, "x", b'{"b": 2}', "b: unknown", None)
        assert (first[1], again) == (1, (first[0], 2))
        assert session.get(UnknownPayload, first[0]).times == 2  # type: ignore[union-attr]
        assert inbound.purge_unknown(session, 90) == 1
        assert [p.id for p in inbound.unknown_payloads(session)] == [fresh]
        assert inbound.unknown_payload(session, fresh[:8]) is not None


def test_record_ids_are_the_same_for_the_same_event_and_differ_between_platforms() -> None:
    assert inbound.record_id("meta", "fb:1_2:ab") == inbound.record_id("meta", "fb:1_2:ab")
    assert inbound.record_id("meta", "fb:1_2:ab") != inbound.record_id("x", "fb:1_2:ab")
