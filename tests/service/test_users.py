"""Password rules, and the ``sift users`` commands that set them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from service.users import password_problem

REFUSED = {
    "too_short": ("eleven char", "maria", "at least 12 characters (this one has 11)"),
    "common": ("Password 1234", "maria", "one of the most common ones"),
    "common_without_spaces_or_case": ("Correct Horse Battery Staple", "maria", "one of the most common ones"),
    "the_username": ("maria.lopez1", "Maria.Lopez1", "must not be the username"),
    "the_username_twice": ("mariamaria12", "maria", "must not be the username"),
    "one_character_over_and_over": ("aaaaaaaaaaaaaaaa", "maria", "fewer than 5 different ones"),
    "too_long": ("x" * 501, "maria", "at most 500 characters"),
}


@pytest.mark.parametrize(("password", "username", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_weak_password_is_refused_saying_why(password: str, username: str, message: str) -> None:
    assert message in (password_problem(password, username) or "")


@pytest.mark.parametrize("password", ["correct horse battery", "maria likes long walks", "7 purple tigers sing"])
def test_a_long_unusual_password_is_accepted(password: str) -> None:
    assert password_problem(password, "maria") is None


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, password: str = "") -> tuple[int, str]:
    for key, value in {"SIFT_DATA_DIR": str(tmp_path), "SIFT_MODEL_DIR": str(tmp_path / "no-model"),
                       "SIFT_SECRET_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["users", *args], input=password + "\n" if password else None)
    return result.exit_code, result.output


def test_sift_users_create_password_disable_enable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _cli(tmp_path, monkeypatch, "create", "--username", "maria", "--password-stdin", password="Maria Maria!!") == (
        2, "error: the password must not be the username, nor the username with a few characters added\n")
    assert _cli(tmp_path, monkeypatch, "create", "--username", "maria", "--password-stdin",
                password="correct horse battery")[0] == 0
    code, output = _cli(tmp_path, monkeypatch, "password", "maria", "--password-stdin", password="qwertyuiop123")
    assert code == 2 and "one of the most common ones" in output
    code, output = _cli(tmp_path, monkeypatch, "password", "maria", "--password-stdin", password="a brand new long passphrase")
    assert code == 0 and output == "password changed for maria; 0 session(s) ended\n"
    assert _cli(tmp_path, monkeypatch, "disable", "maria") == (0, "disabled maria; 0 session(s) ended\n")
    assert _cli(tmp_path, monkeypatch, "enable", "maria") == (0, "enabled maria\n")
    code, output = _cli(tmp_path, monkeypatch, "password", "nobody", "--password-stdin", password="a brand new long passphrase")
    assert code == 2 and "no user 'nobody'" in output
