"""``sift keys`` and ``sift users``: who may call the API and who may sign in to the review pages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import App, session
from cli.errors import Refused

keys_app = App(help="Manage API keys (stored hashed).")
users_app = App(help="Moderator accounts for the review pages.")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who uses the key")],
                scope: Annotated[list[str], typer.Option(help="classify, review or admin (repeatable)")] = ["classify"]) -> None:  # noqa: B006
    """Create an API key and print it once (only its hash is stored)."""
    from service.db.repository import create_api_key

    with session() as db:
        row, plain = create_api_key(db, name, scope)
    typer.echo(f"created key {row.id} ({row.name}, scopes {row.scopes}). Store it now, it is not shown again:")
    typer.echo(plain)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from service.db.repository import list_api_keys

    with session() as db:
        for row in list_api_keys(db):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}…  {row.name}  [{row.scopes}]  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    from service.db.repository import revoke_api_key

    with session() as db:
        if not revoke_api_key(db, key_id):
            raise Refused(f"no active key with id {key_id}")
    typer.echo(f"revoked {key_id}")


@users_app.command("create")
def users_create(username: Annotated[str, typer.Option(help="the moderator's sign-in name")],
                 role: Annotated[str, typer.Option(help="moderator or admin")] = "moderator",
                 password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False) -> None:
    """Create a moderator account (the password is stored as an argon2 hash)."""
    from service.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    with session() as db:
        user = create_user(db, username, password, role)
    typer.echo(f"created {user.role} {user.username}")
