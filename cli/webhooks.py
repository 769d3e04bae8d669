"""``sift webhooks``: the platform payloads sift could not read, kept for an admin to inspect."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import App, session, settings
from cli.errors import Refused

webhooks_app = App(help="The platforms' webhooks: payloads kept because sift could not read them.")


@webhooks_app.command("unknown")
def webhooks_unknown(payload_id: Annotated[str | None, typer.Argument(help="show this one (its id, or the first 8 "
                                                                           "characters of it): the reason, then the body")] = None,
                     platform: Annotated[str | None, typer.Option(help="only this platform's: meta, x or youtube")] = None,
                     limit: Annotated[int, typer.Option(min=1, max=1000, help="how many to list, latest first")] = 50) -> None:
    """List the payloads kept unread (id, platform, when, how many times, size, why), or show one byte for byte.

    They hold what the platform sent, comments and authors included: they are purged after SIFT_RETENTION_DAYS
    like comment texts (at start-up, or with `sift webhooks purge`)."""
    from service.db.inbound import unknown_payload, unknown_payloads

    with session() as db:
        if payload_id is None:
            rows = unknown_payloads(db, platform=platform, limit=limit)
            if not rows:
                typer.echo("no payloads are kept")
            for row in rows:
                typer.echo(f"{row.id[:8]}  {row.platform:<7} {row.last_received_at:%Y-%m-%d %H:%M} UTC  x{row.times:<3} "
                           f"{len(row.body):>7} bytes  {row.reason[:150]}")
            return
        found = unknown_payload(db, payload_id)
        if found is None:
            raise Refused(f"no kept payload {payload_id!r} (one id, or at least its first 8 characters; "
                          "`sift webhooks unknown` lists them)")
        typer.echo(f"id: {found.id}\nplatform: {found.platform}\nfirst received: {found.received_at:%Y-%m-%d %H:%M:%S} UTC\n"
                   f"last received: {found.last_received_at:%Y-%m-%d %H:%M:%S} UTC ({found.times} times)\n"
                   f"content type: {found.content_type or '-'}\nreason: {found.reason}\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(found.body + b"\n")
        sys.stdout.flush()


@webhooks_app.command("purge")
def webhooks_purge(days: Annotated[int | None, typer.Option(min=1, help="retention in days (default: settings, 90)")] = None) -> None:
    """Forget the kept payloads last received before the retention period (the service also does this at start-up)."""
    from service.db.inbound import purge_unknown

    keep = days or settings().retention_days
    with session() as db:
        count = purge_unknown(db, keep)
    typer.echo(f"purged {count} kept payloads older than {keep} days")
