"""One mapping from the domain's errors to the command's exit codes and messages.

Every command is registered through :class:`cli.common.App`, which runs it under :func:`handled`: an
error the user can fix (bad configuration, a bad file, an unknown model version) prints one line naming
what to fix and exits with its code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

USAGE = 2  # the input, a file or the configuration must change
REFUSED = 1  # the request was understood and refused (nothing to revoke, a worse model, nothing current)

F = TypeVar("F", bound=Callable[..., Any])


class Refused(Exception):  # noqa: N818 - it is an outcome, not a fault
    """A command was understood and refused; the message says why (exit code 1)."""


def _domain_errors() -> list[tuple[type[BaseException], int]]:
    """(error class, exit code), first match wins. The training stack's errors only when it is installed."""
    from pydantic import ValidationError

    from model.pipeline import InvalidTextError
    from model.policy.config import PolicyError
    from service.comments import SubmissionError
    from service.db.repository import ApiKeyError
    from service.db.review import ReviewError
    from service.erasure import ErasureError
    from service.events import EventsConfigError
    from service.users import AuthError

    mapping: list[tuple[type[BaseException], int]] = [
        (Refused, REFUSED), (ValidationError, USAGE), (InvalidTextError, USAGE), (PolicyError, USAGE),
        (SubmissionError, USAGE), (ApiKeyError, USAGE), (AuthError, USAGE), (ReviewError, USAGE),
        (ErasureError, USAGE), (EventsConfigError, USAGE), (FileNotFoundError, USAGE),
    ]
    try:
        from training.data import DataError
        from training.registry import RegistryError
    except ImportError:  # the service install has no training stack
        return mapping
    return [*mapping, (DataError, USAGE), (RegistryError, USAGE)]


def message(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # the settings: name each SIFT_ variable and what is wrong
        return "; ".join(f"configuration error: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors())
    if isinstance(exc, Refused):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"error: {exc.filename} does not exist"
    return f"error: {exc}"


def handled(command: F) -> F:
    """Run ``command``; a domain error becomes its message on standard error and its exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            for cls, code in _domain_errors():
                if isinstance(exc, cls):
                    typer.echo(message(exc), err=True)
                    raise typer.Exit(code) from exc
            raise

    return run  # type: ignore[return-value]
