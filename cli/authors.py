"""``sift authors``: what sift holds about one author, for their data-protection rights."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli.common import App, session, settings

authors_app = App(help="One author's stored data: erase it on request (right to erasure).")


@authors_app.command("erase")
def authors_erase(channel: Annotated[str, typer.Option(help="the channel the author posted on: facebook, twitter, linkedin, "
                                                            "youtube, instagram or other")],
                  author_id: Annotated[str, typer.Option(help="the platform's id for the author, as it was sent to sift")],
                  actor: Annotated[str | None, typer.Option(help="who asked for it, for the audit log (default: your user name)")]
                  = None,
                  dry_run: Annotated[bool, typer.Option(help="count what would be removed; change nothing")] = False) -> None:
    """Remove one author's stored texts, classifications, offences and review items, and audit it (without the id)."""
    from service.erasure import erase_author

    secret = settings().author_secret()
    with session() as db:
        done = erase_author(db, secret, channel=channel, author_id=author_id, actor=actor or f"cli:{getpass.getuser()}",
                            dry_run=dry_run)
    typer.echo(done.summary())
    if not done.found:
        typer.echo("nothing is stored for this author under the current secret key (check the channel and the id)")
    if done.audit_id:
        typer.echo(f"audit entry {done.audit_id}")
