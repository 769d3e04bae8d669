"""Events out through an outage: a real ``sift serve`` (two workers) and a real subscriber on 127.0.0.1.

    python -m bench.events_outage          # 100 comments; port closed 3 s, then 503 for 3 s, then slow for 2 s, then up
    python -m bench.events_outage --comments 300 --workers 2 --closed 5 --refusing 5 --slow 3
    SIFT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python -m bench.events_outage --postgres

The subscriber (bench/subscriber.py) verifies every request with the Standard Webhooks reference library.
Comments are classified while it is down (its port closed, then answering 503); then it is slow (it keeps
each event but answers after the sender's 1 s time-out, so the sender tries again: the same event arrives
twice, under one id); then it is up. The script
waits until every delivery is settled and prints: the events written (from the database), the requests the
subscriber received, the distinct event ids among them, repeats (the same id again: at-least-once), events
lost (written, never received: must be 0), facts received under two ids (must be 0), bad signatures (0).
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bench.subscriber import Subscriber, free_port
from service.db.models import EventDelivery

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
TEXTS = ["How do I report a repair online?", "Waited in all day, nobody turned up", "useless f***ing clowns",
         "Huge thanks to the repairs team", "Another rent increase. Typical.", "is the office open on bank holidays?"]


def _wait_healthy(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"sift did not become healthy at {base} within {seconds} s")


def _statuses(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with Session(engine) as session:
        found = dict(session.execute(select(EventDelivery.status, func.count()).group_by(EventDelivery.status)).all())
    engine.dispose()
    return {s: int(found.get(s, 0)) for s in ("pending", "delivered", "dead")}  # type: ignore[call-overload]


def _written(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    with Session(engine) as session:
        out = [(d.event_id, d.type) for d in session.scalars(select(EventDelivery))]
    engine.dispose()
    return out


SLOW_ANSWER = 1.5  # seconds the slow subscriber takes to answer, past the sender's time-out
TIMEOUT = 1.0


def run(comments: int, workers: int, closed: float, refusing: float, slow: float, database_url: str | None) -> int:
    folder = Path(tempfile.mkdtemp(prefix="sift-events-"))  # kept: serve.log is there to read
    subscriber = Subscriber(SECRET)
    events_file = folder / "events.yaml"
    events_file.write_text(yaml.safe_dump({"subscribers": [{"name": "bench", "url": subscriber.url, "secret_env": "BENCH_SECRET",
                                                            "events": ["classification.made", "action.due"]}]}),
                           encoding="utf-8")
    url = database_url or f"sqlite:///{folder / 'sift.db'}"
    port = free_port()
    env = {**os.environ, "SIFT_DATA_DIR": str(folder), "SIFT_DATABASE_URL": url, "SIFT_MODEL_DIR": str(folder / "no-model"),
           "SIFT_SECRET_KEY": "bench", "SIFT_LOG_LEVEL": "WARNING", "SIFT_EVENTS_FILE": str(events_file),
           "BENCH_SECRET": SECRET, "SIFT_EVENTS_RETRY_FIRST_SECONDS": "0.2", "SIFT_EVENTS_RETRY_MAX_SECONDS": "1",
           "SIFT_EVENTS_POLL_SECONDS": "0.1", "SIFT_EVENTS_TIMEOUT_SECONDS": str(TIMEOUT),
           "SIFT_CLASSIFY_KEY_LIMIT": "", "SIFT_CLASSIFY_IP_LIMIT": ""}
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", str(workers)],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base)
        started = time.monotonic()
        with httpx.Client(base_url=base, timeout=30) as client:
            for i in range(comments):
                client.post("/classify", json={"text": TEXTS[i % len(TEXTS)], "id": f"bench-{i}"}).raise_for_status()
        time.sleep(max(0.0, closed - (time.monotonic() - started)))
        subscriber.status = 503
        subscriber.start()
        time.sleep(refusing)
        subscriber.status, subscriber.delay = 200, SLOW_ANSWER
        time.sleep(slow)
        subscriber.delay = 0.0
        up = time.monotonic()
        while _statuses(url)["pending"] and time.monotonic() - up < 120:
            time.sleep(0.2)
        caught_up = time.monotonic() - up
        written = _written(url)
        statuses = _statuses(url)
    finally:
        server.terminate()
        server.wait(30)
        subscriber.stop()
        log.close()

    sent = {event_id for event_id, _ in written}
    received = subscriber.ids()
    ids_per_fact: dict[tuple[str, object], set[str]] = defaultdict(set)
    for r in subscriber.received:
        ids_per_fact[(r.type, r.data.get("record_id"))].add(r.event_id)
    repeats = sum(n - 1 for n in Counter(received).values() if n > 1)
    lost = len(sent - set(received))
    two_ids = sum(1 for ids in ids_per_fact.values() if len(ids) > 1)
    print(f"sift serve --workers {workers} on {'PostgreSQL' if database_url else 'SQLite'}; {comments} comments classified "
          f"while the subscriber was down")
    print(f"subscriber: port closed for {closed:g} s, then HTTP 503 for {refusing:g} s ({subscriber.refused} attempts "
          f"refused), then for {slow:g} s answering in {SLOW_ANSWER:g} s (the sender gives up after {TIMEOUT:g} s), then up; "
          f"caught up {caught_up:.1f} s after that")
    print("events written: " + f"{len(sent)} (" + ", ".join(f"{t} {n}" for t, n in sorted(Counter(t for _, t in written).items()))
          + ")")
    print(f"requests received 2xx: {len(received)}; distinct event ids {len(set(received))}; repeats of an id already "
          f"received {repeats}")
    print(f"lost (written, never received): {lost}; facts received under two ids: {two_ids}; bad signatures: "
          f"{subscriber.forged}")
    print("deliveries: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
    return 0 if lost == 0 and two_ids == 0 and subscriber.forged == 0 and statuses["pending"] == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--closed", type=float, default=3.0, help="seconds the subscriber's port is closed")
    parser.add_argument("--refusing", type=float, default=3.0, help="then seconds it answers 503")
    parser.add_argument("--slow", type=float, default=2.0, help="then seconds it answers too late")
    parser.add_argument("--postgres", action="store_true", help="on a fresh database at SIFT_TEST_POSTGRES_URL")
    args = parser.parse_args()
    if args.postgres:
        from bench.faults import postgres_database

        with postgres_database(os.environ["SIFT_TEST_POSTGRES_URL"]) as url:
            raise SystemExit(run(args.comments, args.workers, args.closed, args.refusing, args.slow, url))
    raise SystemExit(run(args.comments, args.workers, args.closed, args.refusing, args.slow, None))


if __name__ == "__main__":
    main()
