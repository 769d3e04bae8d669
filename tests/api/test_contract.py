"""Schemathesis over the whole spec, with a key of every scope, against a real server that requires keys: no 5xx,
no status the spec does not document, responses as documented. Bounded (20 examples an operation, a fixed seed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.repository import SCOPES, create_api_key
from service.db.session import make_engine
from tests.logscan import output_file, scan_output, sensitive
from tests.serving import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 20


@pytest.mark.slow  # about a minute
def test_schemathesis_finds_no_server_error_and_no_undocumented_status(tmp_path: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is in the [dev] extra: pip install -e '.[dev]'"
    url = f"sqlite:///{tmp_path / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_api_key(session, "schemathesis", sorted(SCOPES))
    engine.dispose()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SIFT_DATA_DIR": str(tmp_path), "SIFT_DATABASE_URL": url, "SIFT_SECRET_KEY": "t",
           "SIFT_MODEL_DIR": str(tmp_path / "none"), "SIFT_LOG_LEVEL": "WARNING", "SIFT_REQUIRE_API_KEY": "true",
           "SIFT_MODEL_POLL_SECONDS": "0"}
    log = output_file("sift serve for schemathesis")
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=REPO, env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, tries=300, log=log)
        config = Path(__file__).with_name("schemathesis.toml")  # what it may expect of particular routes
        done = subprocess.run([schemathesis, "--no-color", "--config-file", str(config), "run",
                               f"{base}/openapi.json", "-H", f"X-API-Key: {sensitive(key, 'api key')}",
                               "--max-examples", str(MAX_EXAMPLES), "--seed", "12", "--workers", "1"],
                              cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=900)
    finally:
        server.terminate()
        server.wait(timeout=30)
    scan_output("schemathesis", done.stderr)
    report = done.stdout
    operations = re.search(r"Tested: (\d+)", report)
    cases = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed(?:, (\d+) failed)?", report)
    print(f"schemathesis: {operations.group(1) if operations else '?'} operations, "
          f"{cases.group(0).split(':', 1)[1].strip() if cases else '?'} (max {MAX_EXAMPLES} examples an operation)")
    assert done.returncode == 0, report[-6000:] + done.stderr[-2000:]
    assert operations and int(operations.group(1)) >= 10 and cases and not cases.group(3), report[-3000:]


def test_the_spec_says_a_text_must_hold_more_than_white_space_exactly_as_the_check_does() -> None:
    """Schemathesis found it: a text of U+00A0 alone was valid by the spec and refused with a 422."""
    from api.main import create_app
    from service.comments import Submission, SubmissionError, submission

    pattern = create_app().openapi()["components"]["schemas"]["ClassifyRequest"]["properties"]["text"]["pattern"]
    for char in map(chr, range(0x3001)):
        spec_valid = re.search(pattern, char) is not None
        try:
            submission(text=char)
            accepted = True
        except SubmissionError:
            accepted = False
        assert spec_valid == accepted, hex(ord(char))
    assert Submission(text="\u00a0ok").text == "\u00a0ok"
