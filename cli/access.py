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
                scope: Annotated[list[str], typer.Option(help="classify, review, metrics or admin (repeatable)")] = ["classify"]) -> None:  # noqa: B006
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


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password (12 characters or more, not a common one, not the username)", hide_input=True,
                            confirmation_prompt=True))


@users_app.command("create")
def users_create(username: Annotated[str, typer.Option(help="the moderator's sign-in name")],
                 role: Annotated[str, typer.Option(help="moderator or admin")] = "moderator",
                 password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False) -> None:
    """Create a moderator account (the password is stored as an argon2 hash)."""
    from service.users import create_user

    password = _read_password(password_stdin)
    with session() as db:
        user = create_user(db, username, password, role)
    typer.echo(f"created {user.role} {user.username}")


@users_app.command("password")
def users_password(username: Annotated[str, typer.Argument(help="the moderator's sign-in name")],
                   password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False) -> None:
    """Set a new password; every session of that moderator ends (they sign in again)."""
    from service.users import set_password

    password = _read_password(password_stdin)
    with session() as db:
        ended = set_password(db, username, password)
    typer.echo(f"password changed for {username.strip()}; {ended} session(s) ended")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="the moderator's sign-in name")]) -> None:
    """Disable an account: it can no longer sign in, and every session of it ends now."""
    from service.users import set_disabled

    with session() as db:
        ended = set_disabled(db, username, True)
    typer.echo(f"disabled {username.strip()}; {ended} session(s) ended")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="the moderator's sign-in name")]) -> None:
    """Enable a disabled account again (it signs in anew)."""
    from service.users import set_disabled

    with session() as db:
        set_disabled(db, username, False)
    typer.echo(f"enabled {username.strip()}")
