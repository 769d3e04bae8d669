"""``GET /healthz`` (the process is up) and ``GET /readyz`` (what is ready, what is degraded)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from api.schemas import ComponentPublic, HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get("/readyz", response_model=ReadyPublic, responses={503: {"model": ReadyPublic, "description": "not ready"}})
def readyz(request: Request, response: Response) -> ReadyPublic:
    components = {name: ComponentPublic(ok=c.ok, detail=c.detail) for name, c in request.app.state.components.items()}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        components["database"] = ComponentPublic(ok=True, detail=f"{request.app.state.engine.dialect.name} reachable")
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        components["database"] = ComponentPublic(ok=False, detail=f"database unreachable: {type(exc).__name__}")
    if not (components["rules"].ok and components["database"].ok):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ReadyPublic(status="unavailable", components=components)
    return ReadyPublic(status="ready" if all(c.ok for c in components.values()) else "degraded", components=components)
