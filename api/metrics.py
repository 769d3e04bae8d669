"""Prometheus metrics: request latency, classifications by label and source, fallbacks, queue depth,
model version, batch sizes. ``GET /metrics`` serves them in the text exposition format.

With several worker processes, set PROMETHEUS_MULTIPROC_DIR so the workers' counters add up.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import responses
from model.result import Classification


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("sift_request_seconds", "HTTP request latency", ["method", "route", "status"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=self.registry)
        self.classified = Counter("sift_classifications_total", "Comments classified, by source", ["source"], registry=self.registry)
        self.labels = Counter("sift_labels_total", "Labels and flags given", ["label"], registry=self.registry)
        self.fallbacks = Counter("sift_fallback_to_rules_total", "Comments answered by the rules while a model was expected",
                                 registry=self.registry)
        self.review = Counter("sift_sent_to_review_total", "Comments sent to human review", registry=self.registry)
        self.batch = Histogram("sift_model_batch_size", "Comments per model call (micro-batching)",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.write_group = Histogram("sift_write_group_size", "Requests per database commit (group commit)",
                                     buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.queue_depth = Gauge("sift_review_queue_depth", "Open items in the review queue", registry=self.registry)
        self.model = Gauge("sift_model_info", "The model being served (1) by version", ["version"], registry=self.registry)

    def observe(self, results: list[Classification], model_expected: bool) -> None:
        for r in results:
            self.classified.labels(r.source).inc()
            for label in r.labels:
                self.labels.labels(label).inc()
            for flag, on in r.flags.items():
                if on:
                    self.labels.labels(flag).inc()
            if r.needs_review:
                self.review.inc()
            if model_expected and r.source == "rules":
                self.fallbacks.inc()


class RequestTiming:
    """Pure ASGI middleware timing each HTTP request by method, route template and status (a
    ``BaseHTTPMiddleware`` would add a task group and two streams to every request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(scope["method"], path, str(status)).observe(time.perf_counter() - start)


def install(app: FastAPI, metrics: Metrics) -> None:
    app.state.metrics = metrics
    app.add_middleware(RequestTiming, metrics=metrics)


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=True, response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}, **responses(401, 403, 429, 503)})
def metrics_endpoint(request: Request) -> Response:
    from service.db.models import ReviewItem

    metrics: Metrics = request.app.state.metrics
    with request.app.state.session_factory() as session:
        metrics.queue_depth.set(session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")) or 0)
    metrics.model.clear()
    version = request.app.state.pipeline.model_version
    metrics.model.labels(version or "rules-only").set(1)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
