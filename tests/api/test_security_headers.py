"""Security headers on every answer: pages, JSON, redirects, error pages, refusals and crashes.

Issue 12: the review pages sent no CSP, frame-ancestors, nosniff or Referrer-Policy headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.main import create_app
from tests.api.conftest import make_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path_factory.mktemp("headers"), model_poll_seconds=0))

    @app.get("/crash-for-test", include_in_schema=False)
    def crash() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:  # /classify needs the lifespan's event loop
        yield client


def _locked_out(client: TestClient) -> Response:
    for n in range(6):
        response = client.post("/review/login", data={"username": "nobody", "password": f"wrong guess {n}"})
    return response


HTML = {"accept": "text/html"}
ANSWERS: dict[str, tuple[Callable[[TestClient], Response], int]] = {
    "sign_in_page": (lambda c: c.get("/review/login"), 200),
    "redirect_to_sign_in": (lambda c: c.get("/review", follow_redirects=False), 303),
    "wrong_password_page": (lambda c: c.post("/review/login", data={"username": "x", "password": "y"}), 401),
    "html_error_page": (lambda c: c.get("/review/items", headers=HTML), 401),
    "json_answer": (lambda c: c.post("/classify", json={"text": "hello there"}), 200),
    "json_422": (lambda c: c.post("/classify", json={}), 422),
    "json_404": (lambda c: c.get("/no-such-path"), 404),
    "json_413": (lambda c: c.post("/classify", content=b"x", headers={"content-length": str(10**10)}), 413),
    "sign_in_429": (_locked_out, 429),
    "metrics_text": (lambda c: c.get("/metrics"), 200),
    "docs_page": (lambda c: c.get("/docs"), 200),
    "unhandled_500": (lambda c: c.get("/crash-for-test"), 500),
}


@pytest.mark.parametrize(("call", "status"), ANSWERS.values(), ids=ANSWERS.keys())
def test_every_answer_carries_the_security_headers(client: TestClient, call: Callable[[TestClient], Response],
                                                   status: int) -> None:
    response = call(client)
    assert response.status_code == status
    assert_security_headers(response)


def assert_security_headers(response: Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp



def test_only_the_pages_own_scripts_may_run(tmp_path: Path) -> None:
    """The review pages show comments people wrote: under the policy only scripts carrying this response's
    nonce run, so a script smuggled into a comment (or an inline handler) does not."""
    import re

    from service.users import create_user

    with TestClient(create_app(make_settings(tmp_path, model_poll_seconds=0))) as client:
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            create_user(session, "maria", "a long enough pass phrase")
            session.commit()
        client.post("/classify", json={"text": "<script>alert(1)</script> those clowns, the gutters are still blocked"})
        assert client.post("/review/login", data={"username": "maria", "password": "a long enough pass phrase"},
                           follow_redirects=False).status_code == 303
        page = client.get("/review")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
        assert nonce is not None
        assert re.findall(r"<script nonce=\"([^\"]+)\">", page.text) == [nonce.group(1)]  # the page's own script only
        again = re.search(r"'nonce-([^']+)'", client.get("/review").headers["content-security-policy"])
        assert again is not None and again.group(1) != nonce.group(1)  # a fresh nonce for every response
