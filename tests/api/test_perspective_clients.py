"""Perspective's real clients, from the registries, against a running ``sift serve`` that requires keys: Google's
google-api-python-client through the discovery document, the npm package perspective-api-client, and Perspective's
own cURL example. The scripts are in tests/clients/ and print what the clients got; run them by hand the same way.

The npm client needs node and ``npm ci`` in tests/clients/perspective-js (scripts/setup.sh does it): without them
its test is skipped, unless SIFT_REQUIRE_NODE=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.repository import create_api_key
from service.db.session import make_engine
from tests.logscan import output_file, scan_output, sensitive
from tests.serving import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / "tests" / "clients"
JS = CLIENTS / "perspective-js"
# What the scripts send: the server's log must hold none of it (the log scan checks, with the key).
TEXTS = ["friendly greetings from python", "You f***ing idiot, I'll smash your face in", "what kind of idiot name is foo?",
         "you empty-headed animal food trough wiper!", "You stupid idiot, I will smash your face in",
         "what the f*ck, you idiot"]


@dataclass
class Server:
    base: str
    key: str
    log: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "SIFT_BASE": self.base, "SIFT_KEY": self.key}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``sift serve`` for the module, keys required, with a key of the classify scope."""
    data = tmp_path_factory.mktemp("perspective-clients")
    url = f"sqlite:///{data / 'sift.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_api_key(session, "perspective clients", ["classify"])
    engine.dispose()
    for text in TEXTS:
        sensitive(text, "comment text")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SIFT_DATA_DIR": str(data), "SIFT_DATABASE_URL": url,
           "SIFT_SECRET_KEY": "t", "SIFT_MODEL_DIR": str(data / "none"), "SIFT_LOG_LEVEL": "INFO",
           "SIFT_REQUIRE_API_KEY": "true", "SIFT_MODEL_POLL_SECONDS": "0"}
    log = output_file("sift serve for the Perspective clients")
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=REPO, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, tries=300, process=process, log=log)
        yield Server(base, sensitive(key, "api key"), log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _run(name: str, command: list[str], server: Server, cwd: Path = REPO) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(command, cwd=cwd, env=server.env(), capture_output=True, text=True, timeout=120)
    scan_output(name, done.stdout, done.stderr)
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"--- {name}: {' '.join(command)}\n{done.stdout}")  # the output, for the record (pytest -s)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _score(answer: dict, attribute: str) -> float:  # type: ignore[type-arg]
    return float(answer["attributeScores"][attribute]["summaryScore"]["value"])


def test_googles_discovery_client_works_unchanged_apart_from_the_url(server: Server) -> None:
    out = _run("google-api-python-client", [sys.executable, str(CLIENTS / "perspective_google.py")], server)
    assert _score(out["analyze"], "TOXICITY") < 0.2 and out["analyze"]["languages"] == ["en"]
    every = out["attributes"]
    assert _score(every, "TOXICITY") >= 0.85 and _score(every, "THREAT") >= 0.85 and _score(every, "PROFANITY") >= 0.85
    assert _score(every, "IDENTITY_ATTACK") == 0.0 and every["clientToken"] == "py-1"
    text = TEXTS[1]
    assert [text[s["begin"]:s["end"]] for s in every["attributeScores"]["INSULT"]["spanScores"]] == ["idiot"]
    refused = out["unknown_attribute"]
    assert refused["status"] == 400 and refused["error"]["status"] == "INVALID_ARGUMENT"
    assert refused["reason"].startswith("Unknown requested attribute: FLIRTATION")


def test_the_npm_perspective_api_client_works_with_its_axios_routed_to_sift(server: Server) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = ("node and npm are not installed" if not (node and npm) else
               "perspective-api-client is not installed: run scripts/setup.sh (npm ci in tests/clients/perspective-js)"
               if not (JS / "node_modules" / "perspective-api-client" / "package.json").is_file() else None)
    if missing:
        if os.environ.get("SIFT_REQUIRE_NODE") == "1":
            pytest.fail(f"SIFT_REQUIRE_NODE=1 but {missing}")
        pytest.skip(missing)
    out = _run("perspective-api-client", [str(node), "analyze.js"], server, cwd=JS)
    # The client's README example: an insult made of words sift's lists do not hold, so the rules score it 0
    # where Perspective scores it high (README, "Moving from Perspective").
    assert 0.0 <= _score(out["analyze"], "TOXICITY") <= 1.0 and out["analyze"]["languages"] == ["en"]
    every = out["attributes"]["attributeScores"]
    assert set(every) == {"TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"}
    assert _score(out["attributes"], "INSULT") >= 0.5 and _score(out["attributes"], "THREAT") >= 0.85
    spans = out["spans"]
    assert spans["clientToken"] == "js-1" and set(spans["attributeScores"]) == {"INSULT", "PROFANITY"}
    assert [TEXTS[5][s["begin"]:s["end"]] for s in spans["attributeScores"]["PROFANITY"]["spanScores"]] == ["f*ck"]
    refused = out["unknown_attribute"]
    assert refused["name"] == "ResponseError" and refused["status"] == 400
    assert refused["message"].startswith("Unknown requested attribute: FLIRTATION")


def test_perspectives_own_curl_example_works_with_only_the_address_changed(server: Server) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    out = _run("curl", ["bash", str(CLIENTS / "perspective_curl.sh")], server)
    assert _score(out, "TOXICITY") >= 0.5 and out["languages"] == ["en"]
    assert out["attributeScores"]["TOXICITY"]["summaryScore"]["type"] == "PROBABILITY"


def test_the_access_log_shows_the_requests_with_the_key_hidden(server: Server) -> None:
    test_perspectives_own_curl_example_works_with_only_the_address_changed(server)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in log.splitlines() if "/v1alpha1/comments" in line]  # uvicorn writes the colon as %3A
    assert lines and all("?key=[hidden]" in line for line in lines), log[-3000:]
    assert server.key not in log
