"""Assemble the FastAPI app: settings, pipeline and database in the lifespan; routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, headers, metrics
from api import events as events_out
from api.batcher import MicroBatcher
from api.deps import MetricsScope
from api.lifecycle import Drain, Draining
from api.lifecycle import install as take_sigterm
from api.limits import MAX_BODY_BYTES, BodySizeLimit
from api.ratelimit import RateLimits
from api.reload import model_identity, watch
from api.routes import classify, coral, docs, health, perspective, review_api, review_pages, webhooks
from api.storage import DurableStore
from api.writer import GroupWriter
from model.classifier import MODEL_META_FILE
from model.labels import TARGETS
from model.loader import ComponentStatus, build_pipeline
from model.pipeline import DecisionPolicy
from model.policy.config import load_policy
from model.policy.engine import PolicyEngine
from service.db.migrate import upgrade
from service.db.session import checkpoint, make_engine, make_session_factory, reopen
from service.keys import KnownKeys
from service.logs import install as redact_logs
from service.outbox import Outbox
from service.settings import Settings, get_settings

logger = logging.getLogger(__name__)

WARM_UP_TEXT = "Warming up: the lift is broken again, ring me on 07700 900000 or email help@example.org"


def purge_on_start(app: FastAPI) -> int:
    from service.db.inbound import purge_unknown
    from service.db.review import purge_expired

    with app.state.session_factory() as session:
        purge_unknown(session, app.state.settings.retention_days)  # raw platform payloads, kept as long as texts
        return purge_expired(session, app.state.settings.retention_days)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or get_settings()
        app.state.settings = cfg
        for name in ("", "uvicorn", "uvicorn.access"):  # however the app was started, its handlers filter
            redact_logs(logging.getLogger(name))
        upgrade(cfg.effective_database_url)
        app.state.engine = make_engine(cfg.effective_database_url)
        app.state.session_factory = make_session_factory(app.state.engine)
        app.state.author_secret = cfg.author_secret()
        # Events out: the sessions write events for the subscribers of SIFT_EVENTS_FILE (none: nothing is written).
        app.state.events_out = events_out.prepare(app.state.session_factory, cfg)
        app.state.subscribers = app.state.events_out.subscribers if app.state.events_out else None
        app.state.known_keys = KnownKeys()  # API keys seen valid, for a database outage (service.keys)
        app.state.rate_limits = RateLimits.from_settings(cfg, app.state.session_factory, app.state.author_secret)
        policy = DecisionPolicy(review_bands=dict.fromkeys(TARGETS, (cfg.review_band_low, cfg.review_band_high)),
                                band_overrides=dict(cfg.review_bands))
        app.state.pipeline, app.state.components = build_pipeline(
            rules_dir=cfg.rules_dir, staff_roster=cfg.staff_roster, org_file=cfg.org_file,
            model_dir=cfg.effective_model_dir, policy=policy, cache_size=cfg.model_cache,
            threads=cfg.model_threads or None, rules_budget=cfg.rules_budget)
        # The first comment would pay for the phone-number patterns' compilation (0.3 to 0.8 s) and the model's
        # first run: paid here, before the service says it is ready, so no caller's deadline (Coral's) meets it.
        await asyncio.to_thread(app.state.pipeline.classify_many, [WARM_UP_TEXT], remember=[False])
        app.state.policy = PolicyEngine(load_policy(cfg.policy_file))
        app.state.components["policy"] = ComponentStatus(True, f"policy from {cfg.policy_file}")
        for name, component in app.state.components.items():
            logger.info("%s: %s", name, component.detail)
        if not cfg.api_key_required:
            logger.warning("API keys are NOT required: the service is bound to loopback (%s) only. "
                           "Set SIFT_REQUIRE_API_KEY=true or bind another address to require them.", cfg.host)
        app.state.model_identity = model_identity(cfg.effective_model_dir)
        app.state.model_expected = (cfg.effective_model_dir / MODEL_META_FILE).exists()
        app.state.batcher = MicroBatcher(lambda: app.state.pipeline, max_batch=cfg.batch_max, wait_ms=cfg.batch_wait_ms,
                                         on_batch=app.state.metrics.batch.observe)
        app.state.batcher.start()
        app.state.writer = GroupWriter(app.state.session_factory, on_group=app.state.metrics.write_group.observe)
        app.state.writer.start()
        # Rows the database cannot take (down, locked, read-only) wait in the outbox; written when it is back.
        app.state.store = DurableStore(app.state.writer, Outbox(cfg.data_dir / "outbox"), app.state.session_factory,
                                       app.state.engine)
        app.state.store.start()
        if app.state.events_out:
            app.state.events_out.start()
        give_back_sigterm = take_sigterm(drain, cfg.shutdown_grace_seconds)
        purged = purge_on_start(app)
        if purged:
            logger.info("purged the text of %d comments older than %d days", purged, cfg.retention_days)
        watcher = asyncio.create_task(watch(app, cfg.model_poll_seconds)) if cfg.model_poll_seconds > 0 else None
        poller = None
        if cfg.youtube_poll_source:
            from api.youtube_poll import poll_forever

            poller = asyncio.create_task(poll_forever(app, cfg.youtube_poll_source, cfg.youtube_poll_seconds))
        yield
        if watcher:
            watcher.cancel()
        if poller:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)  # a poll under way lets go of its claims first
        coral_decisions = getattr(app.state, "coral_pending", None)  # answered to Coral in time, still deciding
        if coral_decisions:
            await asyncio.wait(set(coral_decisions), timeout=cfg.shutdown_grace_seconds)
        await app.state.batcher.stop()
        await app.state.writer.stop()
        await app.state.store.stop()
        if app.state.events_out:
            await app.state.events_out.stop()
        give_back_sigterm()
        checkpoint(app.state.engine)  # nothing left only in the WAL
        reopen(app.state.engine)  # closes the connections (unless closing would meet a damaged -shm file)

    drain = Drain()
    app = FastAPI(title="sift", summary="Classifies comments sent to an organisation's social media accounts.",
                  version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,  # served by api.routes.docs, behind a key when keys are required
                  max_body_size=MAX_BODY_BYTES)  # counted as it streams: chunked bodies stop at the limit too
    app.add_middleware(BodySizeLimit)
    metrics.install(app, metrics.Metrics())
    errors.install(app)
    headers.install(app)  # outermost: on every answer, a crash's 500 too
    app.include_router(health.router)
    app.include_router(metrics.router, dependencies=[MetricsScope])
    app.include_router(docs.router)
    app.include_router(classify.router)
    app.include_router(coral.router)
    app.include_router(perspective.router)
    app.include_router(perspective.discovery_router)
    app.include_router(review_api.router)
    app.include_router(review_pages.router)
    app.include_router(webhooks.router)
    app.add_middleware(Draining, drain=drain)  # outermost: after SIGTERM, a 503 before anything else runs
    return app
