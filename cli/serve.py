"""``sift serve`` and ``sift db``: the HTTP service and its database."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from cli.common import App, configure_logging, settings

db_app = App(help="Database migrations.")


def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
          workers: Annotated[int, typer.Option(help="worker processes")] = 1) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.listener import SOLE_LISTENER_ENV
    from service.db.migrate import upgrade
    from service.logs import uvicorn_log_config

    os.environ["SIFT_HOST"] = host
    os.environ["SIFT_PORT"] = str(port)
    os.environ[SOLE_LISTENER_ENV] = "1" if workers == 1 else "0"  # workers > 1 share the socket (api.listener)
    if workers > 1 and not os.environ.get("SIFT_MODEL_THREADS"):
        # Each worker's model gets its share of the cores, so N workers do not fight over them.
        os.environ["SIFT_MODEL_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    cfg = settings(host=host, port=port)
    if cfg.events_file is not None:  # a bad events file or a missing secret: one clear line, before any worker starts
        from service.events import Subscribers

        Subscribers.load(cfg.events_file).with_secrets()
    # The workers read the settings from the environment: pin the folder resolved here, so a relative
    # SIFT_DATA_DIR means the same folder in every worker.
    os.environ["SIFT_DATA_DIR"] = str(cfg.data_dir)
    configure_logging(cfg.log_level)
    if workers > 1 and not cfg.redis_url:
        logging.getLogger(__name__).warning(
            "no SIFT_REDIS_URL: sign-in limits are shared through the database, but each of the %d workers counts "
            "/classify requests on its own (a key may get up to %d times SIFT_CLASSIFY_KEY_LIMIT)", workers, workers)
    upgrade(cfg.effective_database_url)  # once, before the workers start (they would race on a fresh database)
    # On SIGTERM the app drains first (api.lifecycle: in-flight requests finish within the grace period, the
    # rest get a 503); uvicorn's own time-out is the backstop past that.
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level=cfg.log_level.lower(),
                log_config=uvicorn_log_config(cfg.log_level),  # its handlers, the access log's too, redact
                proxy_headers=bool(cfg.forwarded_allow_ips), forwarded_allow_ips=cfg.forwarded_allow_ips or None,
                timeout_graceful_shutdown=int(cfg.shutdown_grace_seconds) + 5)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from service.db.migrate import upgrade

    upgrade(settings().effective_database_url, revision)
    typer.echo("database is up to date")
