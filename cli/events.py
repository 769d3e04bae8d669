"""``sift events``: check the subscribers' file, list deliveries and dead letters, send events again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import App, session, settings
from cli.errors import Refused

if TYPE_CHECKING:
    from service.db.models import EventDelivery

events_app = App(help="Events out: signed webhooks to the subscribers of SIFT_EVENTS_FILE.")


def _line(d: EventDelivery) -> str:
    parts = [d.event_id, f"{d.type:<19}", f"{d.subscriber:<16}", f"{d.status:<9}", f"{d.attempts} attempts"]
    if d.status == "pending":
        parts.append(f"next {d.next_attempt_at:%Y-%m-%d %H:%M:%S}")
    elif d.delivered_at:
        parts.append(f"at {d.delivered_at:%Y-%m-%d %H:%M:%S}")
    if d.last_error:
        parts.append(f"last error: {d.last_error}")
    return "  ".join(parts)


def _show(status: str | None, limit: int) -> None:
    from service.db.deliveries import counts, listing

    with session() as db:
        found = listing(db, status=status, limit=limit)  # type: ignore[arg-type]
        totals = counts(db)
    typer.echo("  ".join(f"{name} {count}" for name, count in totals.items()))
    for delivery in found:
        typer.echo(_line(delivery))


@events_app.command("list")
def events_list(status: Annotated[str | None, typer.Option(help="pending, delivered or dead (default: all)")] = None,
                limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50) -> None:
    """Deliveries, newest first: event id, type, subscriber, status, attempts, when, the last error."""
    from service.db.deliveries import STATUSES

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    _show(status, limit)


@events_app.command("dead")
def events_dead(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50) -> None:
    """Dead letters: deliveries that failed every attempt (replay them with `sift events replay`)."""
    _show("dead", limit)


@events_app.command("replay")
def events_replay(ident: Annotated[str | None, typer.Argument(metavar="ID", help="an event id (every subscriber's "
                                                              "delivery of it) or one delivery's id")] = None,
                  all_dead: Annotated[bool, typer.Option("--all-dead", help="every dead letter")] = False) -> None:
    """Send an event again, from its first attempt, whatever its status; or every dead letter. The running
    service sends them (within SIFT_EVENTS_POLL_SECONDS); subscribers de-duplicate on the event id."""
    from service.db.deliveries import requeue

    if (ident is None) == (not all_dead):
        raise typer.BadParameter("give an event id, or --all-dead (not both)")
    with session() as db:
        queued = requeue(db, ident, all_dead=all_dead)
    if not queued:
        raise Refused("no dead letters to replay" if all_dead else f"no event or delivery with id {ident}")
    typer.echo(f"queued {queued} deliveries; the running service sends them")


@events_app.command("check")
def events_check(file: Annotated[Path | None, typer.Argument(help="the events file (default: SIFT_EVENTS_FILE)")] = None) -> None:
    """Validate an events file and its subscribers' secrets (in the environment), as the service does at start-up."""
    from service.events import DESCRIPTIONS, Subscribers

    path = file or settings().events_file
    if path is None:
        raise typer.BadParameter("give the events file, or set SIFT_EVENTS_FILE")
    subscribers = Subscribers.load(path).with_secrets()
    typer.echo(f"{path}: {len(subscribers.specs)} subscribers; secrets found and valid")
    for spec in subscribers.specs:
        typer.echo(f"  {spec.name}: {', '.join(spec.events)}")
    unwanted = [kind for kind in DESCRIPTIONS if not subscribers.wanting(kind)]
    if unwanted:
        typer.echo(f"  (no subscriber wants: {', '.join(unwanted)})")
