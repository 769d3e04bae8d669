"""``sift review``: put comments in front of moderators; forget old texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import App, pipeline, policy_engine, require, session, settings

review_app = App(help="The review queue: suggest items, purge old texts.")


@review_app.command("purge")
def review_purge(days: Annotated[int | None, typer.Option(help="retention in days (default: settings, 90)")] = None) -> None:
    """Forget the text of comments older than the retention period (the service also does this at start-up)."""
    from service.db.review import purge_expired

    keep = days or settings().retention_days
    with session() as db:
        count = purge_expired(db, keep)
    typer.echo(f"purged the text of {count} comments older than {keep} days")


@review_app.command("suggest")
def review_suggest(input: Annotated[Path, typer.Option("--input", "-i", help="JSONL comments, one {\"text\": ...} a line")],
                   n: Annotated[int, typer.Option(min=1, max=1000, help="how many items to add to the queue")] = 20) -> None:
    """Pick the comments most worth a moderator's time (most uncertain, then most diverse) and queue them."""
    from service.suggest import suggest

    require("sklearn", "train", "sift review suggest")
    if not input.is_file():
        raise FileNotFoundError(2, "no such file", str(input))
    built, policy, cfg = pipeline(), policy_engine(), settings()
    with session() as db:
        chosen = suggest(db, built, policy, input, n, cfg.author_secret())
    typer.echo(f"queued {len(chosen)} comments for review")
    for score, text in chosen[:10]:
        typer.echo(f"  uncertainty {score:.2f}: {len(text)} characters")
