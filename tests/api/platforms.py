"""What the platform webhook tests share: the recorded payloads, an app with the platforms' secrets, row counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from service.db.models import ClassificationRecord, InboundEvent, UnknownPayload
from tests.api.conftest import make_settings
from tests.logscan import sensitive

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
META_SECRET = sensitive("meta-app-secret-for-tests-0123456789")
# Not marked sensitive: the test client itself logs the URLs it asks for, the token's query string included (the
# service's own access log hides it: tests/api/test_webhooks_meta.py checks service.logs.redact).
META_VERIFY = "verify-token-for-tests-abcdef"
X_SECRET = sensitive("x-consumer-secret-for-tests-9876543210")


def fixture(name: str) -> bytes:
    """A recorded payload's bytes, as the platform would send them (signatures are over these exact bytes)."""
    return (FIXTURES / name).read_bytes()


@contextmanager
def platform_client(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    values: dict[str, Any] = {"meta_app_secret": META_SECRET, "meta_verify_token": META_VERIFY, "x_consumer_secret": X_SECRET}
    values.update(overrides)
    with TestClient(create_app(make_settings(tmp_path, **values))) as client:
        yield client


def count(client: TestClient, model: type[Any], **where: Any) -> int:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def records(client: TestClient, channel: str) -> list[ClassificationRecord]:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(ClassificationRecord).where(ClassificationRecord.channel == channel)
                                    .order_by(ClassificationRecord.posted_at)))


def kept(client: TestClient) -> list[UnknownPayload]:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(UnknownPayload)))


__all__ = ["ClassificationRecord", "InboundEvent", "UnknownPayload", "count", "fixture", "kept", "platform_client", "records"]
