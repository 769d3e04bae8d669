from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.logscan import scan_output

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"SIFT_DATA_DIR": str(tmp_path), "SIFT_MODEL_DIR": str(tmp_path / "no-model"), "SIFT_SECRET_KEY": "t"}


def test_classify_file_writes_one_result_per_line_in_order_and_errors_in_place(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps({"id": "a", "text": "Huge thanks to the repairs team"}),
        "{not json",
        json.dumps({"id": "c", "text": "   "}),
        json.dumps({"id": "d", "text": "call me on 07700 900123", "channel": "twitter"}),
        json.dumps({"id": "e", "text": "hi", "channel": "myspace"}),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["classify", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5
    assert lines[0]["id"] == "a" and "compliment" in lines[0]["labels"]
    assert lines[1]["line"] == 2 and "not valid JSON" in lines[1]["error"]
    assert lines[2]["id"] == "c" and "only whitespace" in lines[2]["error"]
    assert lines[3]["id"] == "d" and "pii" in lines[3]["labels"] and lines[3]["redacted_text"] == "call me on [PHONE]"
    assert lines[4]["line"] == 5 and "channel" in lines[4]["error"]


def test_classify_one_text_prints_the_same_object_the_api_returns(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "classify", "you w@nker"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **_env(tmp_path)}, timeout=120)
    scan_output("sift classify", done.stderr)  # its logs (stdout is the answer, which holds the text)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["labels"] == ["negative", "abusive"] and body["source"] == "rules"


def test_keys_create_prints_a_key_once_and_stores_only_its_hash(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--name", "crm"])
    assert created.exit_code == 0, created.output
    plain = created.output.strip().splitlines()[-1]
    assert plain.startswith("sift_")
    listed = runner.invoke(app, ["keys", "list"])
    assert "crm" in listed.output and plain not in listed.output
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "superuser"])
    assert bad.exit_code == 2
