"""The ``sift`` console command."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="sift: classify comments sent to an organisation's social media accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (stored hashed).", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


def _settings(**overrides: Any):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"configuration error: {err['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
          workers: Annotated[int, typer.Option(help="worker processes")] = 1) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    os.environ["SIFT_HOST"] = host
    os.environ["SIFT_PORT"] = str(port)
    settings = _settings(host=host, port=port)
    _configure_logging(settings.log_level)
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower())


def _pipeline():  # type: ignore[no-untyped-def]
    from model.loader import build_pipeline

    settings = _settings()
    pipeline, components = build_pipeline(rules_dir=settings.rules_dir, staff_roster=settings.staff_roster,
                                          org_file=settings.org_file, model_dir=settings.effective_model_dir)
    for name, component in components.items():
        if not component.ok:
            typer.echo(f"note: {name}: {component.detail}", err=True)
    return pipeline


@app.command()
def classify(text: Annotated[str | None, typer.Argument(help="a comment to classify")] = None,
             input: Annotated[Path | None, typer.Option("--input", "-i", help="JSONL file, one {\"text\": ...} a line")] = None,
             output: Annotated[Path | None, typer.Option("--output", "-o", help="where to write one result a line")] = None,
             batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 64) -> None:
    """Classify one comment, or a JSONL file, without a server (the same pipeline the API runs)."""
    if (text is None) == (input is None):
        typer.echo("give either a TEXT or --input FILE (not both)", err=True)
        raise typer.Exit(2)
    pipeline = _pipeline()
    if text is not None:
        from model.pipeline import InvalidTextError

        try:
            result = pipeline.classify(text)
        except InvalidTextError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return
    from cli.batchfile import classify_file

    assert input is not None
    if not input.is_file():
        typer.echo(f"error: {input} does not exist", err=True)
        raise typer.Exit(2)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        counts = classify_file(pipeline, input, out, batch_size=batch_size, progress=output is not None)
    finally:
        if output:
            out.close()
    typer.echo(f"{counts['ok']} classified, {counts['errors']} lines with errors" + (f" -> {output}" if output else ""), err=True)


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who uses the key")],
                scope: Annotated[list[str], typer.Option(help="classify, review or admin (repeatable)")] = ["classify"]) -> None:  # noqa: B006
    """Create an API key and print it once (only its hash is stored)."""
    from api.db.repository import create_api_key

    with _session() as session:
        try:
            row, plain = create_api_key(session, name, scope)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(f"created key {row.id} ({row.name}, scopes {row.scopes}). Store it now, it is not shown again:")
    typer.echo(plain)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from sqlalchemy import select

    from api.db.models import ApiKey

    with _session() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}…  {row.name}  [{row.scopes}]  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    from api.db.repository import revoke_api_key

    with _session() as session:
        if not revoke_api_key(session, key_id):
            typer.echo(f"error: no active key with id {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from api.db.migrate import upgrade

    upgrade(_settings().effective_database_url, revision)
    typer.echo("database is up to date")


def _session():  # type: ignore[no-untyped-def]
    from api.db.migrate import upgrade
    from api.db.session import make_engine, make_session_factory

    url = _settings().effective_database_url
    upgrade(url)
    return make_session_factory(make_engine(url))()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
