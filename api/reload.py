"""Pick up a newly promoted model without a restart and without failing requests in flight.

The watcher polls where the model directory points (``current`` is a symlink the registry
repoints atomically). When it changes, the new model is loaded in a worker thread and the
pipeline is swapped in one assignment; requests already running keep the pipeline they started with.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from model.classifier import MODEL_META_FILE
from model.loader import load_classifier
from model.pipeline import Pipeline

logger = logging.getLogger(__name__)


def model_identity(model_dir: Path) -> str | None:
    meta = model_dir / MODEL_META_FILE
    try:
        return f"{os.path.realpath(model_dir)}:{meta.stat().st_mtime_ns}"
    except OSError:
        return None


def reload_if_changed(app: FastAPI) -> bool:
    """Load and swap in the model if the configured directory now holds another one; True if swapped."""
    model_dir = app.state.settings.effective_model_dir
    identity = model_identity(model_dir)
    if identity == app.state.model_identity:
        return False
    classifier, status = load_classifier(model_dir, app.state.settings.model_threads or None)
    old: Pipeline = app.state.pipeline
    if classifier is None and old.classifier is not None:
        logger.error("model at %s changed but did not load; keeping %s: %s", model_dir, old.model_version, status.detail)
        app.state.model_identity = identity
        return False
    app.state.pipeline = Pipeline(old.rules, classifier, old.policy, missing_model_reason=status.detail,
                                  cache_size=old.cache_size, languages=old.languages)  # a new model: an empty cache
    app.state.components["model"] = status
    app.state.model_identity = identity
    app.state.model_expected = identity is not None
    logger.info("model reloaded: %s", status.detail)
    return True


async def watch(app: FastAPI, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(reload_if_changed, app)
        except Exception:  # noqa: BLE001 - the watcher must outlive a bad model folder
            logger.exception("model watcher failed; will try again")
