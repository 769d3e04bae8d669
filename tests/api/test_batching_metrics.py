from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from fastapi.testclient import TestClient

from api.batcher import MicroBatcher
from model.pipeline import Pipeline


class CountingPipeline:
    def __init__(self, inner: Pipeline):
        self.inner = inner
        self.calls: list[int] = []

    def classify_many(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        self.calls.append(len(texts))
        return self.inner.classify_many(texts)


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(pipeline: Pipeline) -> None:
    counting = CountingPipeline(pipeline)
    texts = [f"call me on 07700 900{i:03d}" if i % 2 else f"you w@nker number {i}" for i in range(40)]

    async def run() -> list:  # type: ignore[type-arg]
        batcher = MicroBatcher(lambda: counting, max_batch=16, wait_ms=20)  # type: ignore[arg-type,return-value]
        batcher.start()
        results = await asyncio.gather(*(batcher.classify([t]) for t in texts))
        await batcher.stop()
        return results

    results = asyncio.run(run())
    assert sum(counting.calls) == 40 and len(counting.calls) < 40 and max(counting.calls) <= 16
    for i, (result,) in enumerate(results):
        assert ("pii" in result.labels) == bool(i % 2) and ("abusive" in result.labels) == (not i % 2)


def test_each_requests_own_step_runs_on_its_share_in_the_model_thread_and_fails_only_that_request(pipeline: Pipeline) -> None:
    counting = CountingPipeline(pipeline)
    model_threads: set[int] = set()
    texts = [f"call me on 07700 900{i:03d}" for i in range(12)]

    def step(n: int):  # type: ignore[no-untyped-def]
        def then(results):  # type: ignore[no-untyped-def]
            model_threads.add(threading.get_ident())
            if n == 5:
                raise ValueError("this request's own step failed")
            return (n, [r.labels for r in results], threading.get_ident())
        return then

    async def run() -> list:  # type: ignore[type-arg]
        batcher = MicroBatcher(lambda: counting, max_batch=16, wait_ms=20)  # type: ignore[arg-type,return-value]
        batcher.start()
        loop_thread = threading.get_ident()
        outcomes = await asyncio.gather(*(batcher.run([t], step(n)) for n, t in enumerate(texts)), return_exceptions=True)
        await batcher.stop()
        assert loop_thread not in model_threads  # the step ran off the event loop
        return outcomes

    outcomes = asyncio.run(run())
    assert sum(counting.calls) == 12 and len(counting.calls) < 12
    assert isinstance(outcomes[5], ValueError)
    for n, outcome in enumerate(outcomes):
        if n != 5:
            assert not isinstance(outcome, BaseException) and outcome[0] == n and "pii" in outcome[1][0]


def test_metrics_endpoint_reports_classifications_queue_depth_and_model(client: TestClient) -> None:
    one = client.post("/classify", json={"text": "those clowns again"}).json()
    many = client.post("/classify/batch", json={"items": [{"text": "How do I pay my rent?"}, {"text": "you w@nker"}]}).json()
    waiting = sum(r["needs_review"] for r in [one, *many["items"]])
    body = client.get("/metrics").text
    assert 'sift_classifications_total{source="rules"} 3.0' in body
    assert 'sift_labels_total{label="abusive"}' in body
    assert f"sift_review_queue_depth {float(waiting)}" in body and waiting >= 1
    assert 'sift_model_info{version="rules-only"} 1.0' in body
    assert 'sift_request_seconds_count{method="POST",route="/classify",status="200"} 1.0' in body
    assert "sift_model_batch_size_count" in body


def _notes_table(tmp_path):  # type: ignore[no-untyped-def]
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}", connect_args={"check_same_thread": False})
    table = Table("notes", MetaData(), Column("id", Integer, primary_key=True), Column("body", String, nullable=False))
    table.metadata.create_all(engine)
    return engine, table, sessionmaker(engine)


def test_group_writer_commits_concurrent_requests_together_and_loses_none(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, insert, select

    from api.writer import GroupWriter

    engine, table, sessions = _notes_table(tmp_path)
    groups: list[int] = []

    def work(i: int):  # type: ignore[no-untyped-def]
        def write(session):  # type: ignore[no-untyped-def]
            session.execute(insert(table).values(body=f"note {i}"))
            return i
        return write

    async def run() -> list[int]:
        writer = GroupWriter(sessions, on_group=groups.append)
        writer.start()
        answers = await asyncio.gather(*(writer.run(work(i)) for i in range(60)))
        await writer.stop()
        return list(answers)

    assert asyncio.run(run()) == list(range(60))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(table)) == 60
    assert sum(groups) == 60 and len(groups) < 60  # shared commits, every request counted once


def test_group_writer_isolates_a_failing_request_from_its_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert, select

    from api.writer import GroupWriter

    engine, table, sessions = _notes_table(tmp_path)

    def work(i: int):  # type: ignore[no-untyped-def]
        def write(session):  # type: ignore[no-untyped-def]
            session.execute(insert(table).values(body=None if i == 3 else f"note {i}"))  # 3 breaks NOT NULL
            return i
        return write

    async def run() -> list:  # type: ignore[type-arg]
        writer = GroupWriter(sessions)
        writer.start()
        answers = await asyncio.gather(*(writer.run(work(i)) for i in range(8)), return_exceptions=True)
        await writer.stop()
        return list(answers)

    answers = asyncio.run(run())
    assert [a for i, a in enumerate(answers) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    assert isinstance(answers[3], Exception)
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(table.c.body))) == sorted(f"note {i}" for i in range(8) if i != 3)


def test_metrics_count_write_groups(client: TestClient) -> None:
    client.post("/classify", json={"text": "How do I pay my rent?"})
    assert "sift_write_group_size_count 1.0" in client.get("/metrics").text
