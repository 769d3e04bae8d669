"""What every command group shares: the Typer app class that maps domain errors to exit codes, the
settings, a database session, the pipeline and the policy, each built one way."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from sqlalchemy.orm import Session

from cli.errors import USAGE, handled

if TYPE_CHECKING:
    from model.pipeline import Pipeline
    from model.policy.engine import PolicyEngine
    from service.settings import Settings


class App(typer.Typer):
    """A command group whose commands run under :func:`cli.errors.handled`."""

    def __init__(self, **kwargs: Any):
        super().__init__(no_args_is_help=True, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            register(handled(function))
            return function

        return decorator


def require(module: str, extra: str, command: str) -> None:
    """Exit saying what to install when ``command`` needs a part of sift this install left out."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        typer.echo(f"error: `{command}` needs {module}: pip install 'sift[{extra}]' ({exc})", err=True)
        raise typer.Exit(USAGE) from exc


def settings(**overrides: Any) -> Settings:
    """The settings (``SIFT_*``), with the options a command was given; a bad value exits with code 2."""
    from service.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


# Library loggers kept at these levels whatever SIFT_LOG_LEVEL says (the test suite's log scan uses them too).
# traitlets: Jupyter's kernel client logs every message at DEBUG, a notebook's printed output included.
LIBRARY_LEVELS = {"alembic": logging.WARNING, "traitlets": logging.WARNING}


def quiet_libraries() -> None:
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)


def configure_logging(level: str) -> None:
    from service.logs import install

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install()  # the second guard: no statement parameters, keys or contact details reach a handler
    quiet_libraries()


def session() -> Session:
    """A session on the configured database, migrated first; it writes events for the subscribers of
    ``SIFT_EVENTS_FILE`` (the service sends them), as the service's sessions do."""
    from service.db.migrate import upgrade
    from service.db.session import make_engine, make_session_factory
    from service.events import SESSION_KEY, Subscribers

    cfg = settings()
    url = cfg.effective_database_url
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    if cfg.events_file is not None:
        factory.configure(info={SESSION_KEY: Subscribers.load(cfg.events_file)})
    return factory()  # type: ignore[no-any-return]


def pipeline(cfg: Settings | None = None, *, model_dir: Path | None = None, staff_roster: Path | None = None,
             offline: bool = False) -> Pipeline:
    """The pipeline the service runs (the configured model and rules); says on stderr what did not load.
    ``offline`` (evaluation): no rules time budget, so figures never depend on how busy the machine is."""
    from model.loader import build_pipeline

    cfg = cfg or settings()
    built, components = build_pipeline(rules_dir=cfg.rules_dir, staff_roster=staff_roster or cfg.staff_roster,
                                       org_file=cfg.org_file, model_dir=model_dir or cfg.effective_model_dir,
                                       threads=cfg.model_threads or None,
                                       rules_budget=None if offline else cfg.rules_budget)
    for name, component in components.items():
        if not component.ok:
            typer.echo(f"note: {name}: {component.detail}", err=True)
    return built


def policy_engine(path: Path | None = None) -> PolicyEngine:
    from model.policy.config import load_policy
    from model.policy.engine import PolicyEngine

    return PolicyEngine(load_policy(path or settings().policy_file))
