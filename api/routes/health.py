"""``GET /healthz`` (the process is up) and ``GET /readyz`` (what is ready, what is degraded).

``/readyz`` is for load balancers and people: its status (ready, degraded, down) is public; what each
part says (file paths, errors, the outbox's depth) only for an admin key, or on loopback where keys are
not required.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.deps import DetailsDep
from api.schemas import ComponentPublic, HealthPublic, ReadyPublic
from service.db.session import probe_write

router = APIRouter(tags=["health"])


# How long one write probe's answer stands. Each probe takes SQLite's write lock for a moment; without this,
# a load balancer polling often (or anyone: /readyz needs no key) would compete with the writer for it.
PROBE_SECONDS = 2.0
_probing = threading.Lock()


def _write_probe(state: Any) -> str | None:
    """:func:`probe_write`'s answer, at most ``PROBE_SECONDS`` old and probed again as soon as the store's own
    state changes (the outbox drains, a write fails); one probe at a time."""
    seen = (state.store.pending, state.store.fault)
    with _probing:
        last: tuple[float, object, str | None] | None = getattr(state, "write_probe", None)
        if last is None or last[1] != seen or time.monotonic() - last[0] >= PROBE_SECONDS:
            last = (time.monotonic(), seen, probe_write(state.engine))
            state.write_probe = last
        return last[2]


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get("/readyz", response_model=ReadyPublic, response_model_exclude_none=True,
            responses={503: {"model": ReadyPublic, "description": "down: cannot answer"}},
            # A key is optional: anyone gets the status, an admin key (or loopback) the components too.
            openapi_extra={"security": [{}]})
def readyz(request: Request, response: Response, details: DetailsDep) -> ReadyPublic:
    state = request.app.state
    components = {name: ComponentPublic(ok=c.ok, detail=c.detail) for name, c in state.components.items()}
    store = state.store
    fault = _write_probe(state)  # bounded: SQLite's lock is waited for at most a second, at most every PROBE_SECONDS
    pending = store.pending
    if fault is None and pending == 0:
        components["database"] = ComponentPublic(ok=True, detail=f"{state.engine.dialect.name} takes writes")
    else:
        why = fault or store.fault or "catching up"
        components["database"] = ComponentPublic(
            ok=False, detail=f"{why}; answering, with {pending} comments kept in the outbox until the database takes them")
    if store.rejected:
        components["outbox_rejected"] = ComponentPublic(
            ok=False, detail=f"{store.rejected} comments the database refused on their own are kept in "
                             f"{store.outbox.folder / 'rejected.jsonl'} for a person to look at")
    outbox_ok = os.access(store.outbox.folder, os.W_OK)
    if not outbox_ok:
        components["outbox"] = ComponentPublic(ok=False, detail=f"the outbox folder {store.outbox.folder} cannot be written")
    if not components["rules"].ok or (not components["database"].ok and not outbox_ok):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        verdict = "down"
    else:
        verdict = "ready" if all(c.ok for c in components.values()) else "degraded"
    if not details:
        return ReadyPublic(status=verdict)  # type: ignore[arg-type]
    return ReadyPublic(status=verdict, components=components, outbox_pending=pending)  # type: ignore[arg-type]
