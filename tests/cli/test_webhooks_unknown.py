"""`sift webhooks unknown`: the payloads kept unread, listed and shown byte for byte; `sift webhooks purge`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from service.db.inbound import keep_unknown
from service.db.migrate import upgrade
from service.db.models import utcnow
from service.db.session import make_engine, make_session_factory

BODY = b'{"object": "page", "entry": [{"changes": [{"field": "ratings"}]}]}'


@pytest.fixture
def kept_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for key, value in {"SIFT_DATA_DIR": str(tmp_path), "SIFT_MODEL_DIR": str(tmp_path / "no-model"), "SIFT_SECRET_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    url = f"sqlite:///{(tmp_path / 'sift.db').resolve()}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        ids = [keep_unknown(session, "meta", BODY, "entry[0].changes[0].field: got field 'ratings'", "application/json")[0],
               keep_unknown(session, "x", b"\xff not json", "body: expected JSON", None, now=utcnow() - timedelta(days=200))[0]]
    engine.dispose()
    return ids


def test_the_kept_payloads_are_listed_and_one_is_shown_byte_for_byte(kept_ids: list[str]) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["webhooks", "unknown"])
    shown = runner.invoke(app, ["webhooks", "unknown", kept_ids[0][:8]])
    missing = runner.invoke(app, ["webhooks", "unknown", "00000000-nope"])
    assert listed.exit_code == 0 and [line[:8] for line in listed.output.splitlines()] == [i[:8] for i in kept_ids]
    assert "'ratings'" in listed.output
    assert shown.exit_code == 0 and f"id: {kept_ids[0]}" in shown.output and "reason: entry[0]" in shown.output
    assert shown.stdout_bytes.endswith(BODY + b"\n")
    assert missing.exit_code == 1 and "no kept payload" in missing.output


def test_purge_forgets_payloads_older_than_the_retention_period(kept_ids: list[str]) -> None:
    runner = CliRunner()
    purged = runner.invoke(app, ["webhooks", "purge"])
    listed = runner.invoke(app, ["webhooks", "unknown"])
    assert purged.exit_code == 0 and "purged 1 kept payloads older than 90 days" in purged.output
    assert [line[:8] for line in listed.output.splitlines()] == [kept_ids[0][:8]]
