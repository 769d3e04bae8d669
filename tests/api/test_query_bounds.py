"""Every numeric query parameter is bounded: its bounds are accepted, one past them, inf, nan and 1e300 get a 422
that names the parameter (never a 500 from an overflowing date or an empty chart)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.routes.review_pages import MAX_DASHBOARD_DAYS
from service.db.review import MAX_AGE_HOURS
from tests.api.test_review import UNSURE, app, login  # noqa: F401 - the app fixture: users, keys, a client

OUT_OF_RANGE = ["inf", "-inf", "nan", "1e300", "-1e300", "1.5e3x", ""]


def _api(app, query: str):  # type: ignore[no-untyped-def]  # noqa: F811
    return app.state.test_client.get(f"/review/items?{query}", headers={"X-API-Key": app.state.review_key})


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("limit", ["1", "500"], ["0", "501", "-1", "1.5", *OUT_OF_RANGE]),
    ("min_age_hours", ["0", "0.5", str(MAX_AGE_HOURS)], ["-0.001", str(MAX_AGE_HOURS + 1), *OUT_OF_RANGE]),
])
def test_review_items_query_numbers_are_bounded(app, name: str, good: list[str], bad: list[str]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811, E501
    app.state.test_client.post("/classify", json={"text": UNSURE[0]})
    for value in good:
        answer = _api(app, f"{name}={value}")
        assert answer.status_code == 200, (value, answer.text)
    for value in bad:
        answer = _api(app, f"{name}={value}")
        assert answer.status_code == 422, (value, answer.text)
        assert [d["field"] for d in answer.json()["details"]] == [f"query.{name}"], value


def test_the_dashboards_days_are_bounded(app) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    login(client)
    for value in ["1", str(MAX_DASHBOARD_DAYS)]:
        assert client.get(f"/review/dashboard?days={value}").status_code == 200, value
    for value in ["0", "-3", str(MAX_DASHBOARD_DAYS + 1), "1000000000", *OUT_OF_RANGE]:
        answer = client.get(f"/review/dashboard?days={value}")
        assert answer.status_code == 422, (value, answer.text)
        assert [d["field"] for d in answer.json()["details"]] == ["query.days"], value
