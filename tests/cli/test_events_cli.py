"""``sift events``: the file check says what is wrong, and refusals exit with their codes."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

SECRET = "whsec_" + base64.b64encode(b"y" * 32).decode()


def _file(tmp_path: Path, **subscriber: object) -> Path:
    path = tmp_path / "events.yaml"
    spec = {"name": "crm", "url": "https://crm.example.org/hook", "events": ["review.decided", "sla.breached"],
            "secret_env": "CRM_HOOK_SECRET", **subscriber}
    path.write_text(yaml.safe_dump({"subscribers": [spec]}), encoding="utf-8")
    return path


def test_check_accepts_a_good_file_and_lists_what_nobody_wants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_HOOK_SECRET", SECRET)
    result = CliRunner().invoke(app, ["events", "check", str(_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "crm: review.decided, sla.breached" in result.output
    assert "no subscriber wants: classification.made, action.due, sla.at_risk, model.promoted" in result.output


@pytest.mark.parametrize(("secret", "subscriber", "says"), [
    (None, {}, "CRM_HOOK_SECRET (its signing secret) is not set"),
    ("whsec_c2hvcnQ=", {}, "holds 5 bytes"),
    (SECRET, {"events": ["comment.deleted"]}, "unknown event types ['comment.deleted']"),
])
def test_check_refuses_with_exit_code_2_naming_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None,
                                                          subscriber: dict[str, object], says: str) -> None:
    if secret:
        monkeypatch.setenv("CRM_HOOK_SECRET", secret)
    else:
        monkeypatch.delenv("CRM_HOOK_SECRET", raising=False)
    result = CliRunner().invoke(app, ["events", "check", str(_file(tmp_path, **subscriber))])
    assert result.exit_code == 2 and says in result.output, result.output


def test_replaying_an_unknown_event_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["events", "replay", "no-such-event"])
    assert result.exit_code == 1 and "no event or delivery with id no-such-event" in result.output
    both = CliRunner().invoke(app, ["events", "replay", "x", "--all-dead"])
    assert both.exit_code == 2 and "not both" in both.output
    listed = CliRunner().invoke(app, ["events", "list", "--status", "lost"])
    assert listed.exit_code == 2 and "pending, delivered, dead" in listed.output


def test_sift_serve_refuses_to_start_without_a_subscribers_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIFT_HOST", "SIFT_PORT", "SIFT_DATA_DIR", "SIFT_MODEL_THREADS"):  # serve sets them for its workers
        monkeypatch.setenv(name, os.environ.get(name, ""))
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIFT_EVENTS_FILE", str(_file(tmp_path)))
    monkeypatch.delenv("CRM_HOOK_SECRET", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2 and "CRM_HOOK_SECRET (its signing secret) is not set" in result.output, result.output
