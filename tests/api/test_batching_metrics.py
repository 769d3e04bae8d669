from __future__ import annotations

import asyncio
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
