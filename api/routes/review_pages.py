"""The moderators' pages: sign in, queue with filters, an item with its evidence, decide, dashboard."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from api import charts
from api.auth import csrf_ok, end_session, start_session
from api.deps import ModeratorPageDep, SessionDep, WebSessionDep, client_address
from api.ratelimit import RateLimits
from model.labels import CHANNELS, FLAGS, LABELS, PRIORITY_RANK
from model.policy.config import ACTIONS
from service.db.bulk import BulkAction, BulkPlan, BulkResult, apply_bulk, model_choice, plan_bulk
from service.db.item_context import author_history, platform_link
from service.db.models import AuditEntry, ClassificationRecord, ReviewItem, utcnow
from service.db.review import (
    MAX_AGE_HOURS,
    QueueFilter,
    ReviewConflict,
    ReviewError,
    ReviewInvalid,
    claim,
    claim_next,
    decide,
    list_items,
    pull,
)
from service.users import authenticate

router = APIRouter(prefix="/review", tags=["review pages"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
RANK_NAMES = {v: k for k, v in PRIORITY_RANK.items()}
BULK_NAMES = {"confirm": "Confirm the model", "clear": "Clear (no label applies)", "remove": "Remove"}
MAX_DASHBOARD_DAYS = 366  # a year of days on one chart; more overflows the dates (and the page)


def _check_csrf(web: Any, token: str | None) -> None:
    if not csrf_ok(web, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong: reload the page and try again")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, web: WebSessionDep) -> Response:
    if web is not None:
        return RedirectResponse("/review", status.HTTP_303_SEE_OTHER)
    return templates.TemplateResponse(request, "login.html", {"web": None, "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, username: Annotated[str, Form(max_length=100)],
          password: Annotated[str, Form(max_length=500)]) -> Response:
    # Counted before the password is checked: a refused attempt is told so, right password or not, and costs
    # no hashing. Per username (the lockout) and per address (spraying across usernames).
    limits: RateLimits = request.app.state.rate_limits
    refused = limits.signin_attempt(username, client_address(request))
    if refused is not None:
        minutes = max(1, round(refused.retry_after / 60))
        message = f"Too many sign-in attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        headers = {"Retry-After": str(refused.retry_after)}
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": refused.message()}, status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)
        return templates.TemplateResponse(request, "login.html", {"web": None, "error": message},
                                          status_code=status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)
    user = authenticate(session, username, password)
    if user is None:
        return templates.TemplateResponse(request, "login.html", {"web": None, "error": "Wrong username or password."},
                                          status_code=status.HTTP_401_UNAUTHORIZED)
    limits.signin_succeeded(username)
    response = RedirectResponse("/review", status.HTTP_303_SEE_OTHER)
    start_session(request, response, session, user)  # a fresh session and CSRF token: no session fixation
    return response


@router.post("/logout")
def logout(request: Request, web: ModeratorPageDep, session: SessionDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(web, csrf_token)
    response = RedirectResponse("/review/login", status.HTTP_303_SEE_OTHER)
    end_session(request, response, session)  # revoked on the server: a copy of the cookie signs nobody in
    return response


def _queue_filter(label: str, channel: str, min_age_hours: str, overdue: bool) -> QueueFilter:
    """The queue page's filter form as a QueueFilter (the page shows the first 100; a bulk action takes them all)."""
    try:  # an empty box in the filter form means "any age"
        age = float(min_age_hours) if min_age_hours.strip() else None
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'older than' must be a number of hours") from None
    if age is not None and not 0 <= age <= MAX_AGE_HOURS:  # also NaN and inf
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"'older than' must be between 0 and {MAX_AGE_HOURS} hours")
    return QueueFilter(label=label or None, channel=channel or None, min_age_hours=age, overdue=overdue, limit=100)


@router.get("", response_class=HTMLResponse)
def queue(request: Request, web: ModeratorPageDep, session: SessionDep, label: str = "", channel: str = "",
          min_age_hours: str = "", overdue: bool = False) -> Response:
    flt = _queue_filter(label, channel, min_age_hours, overdue)
    items = list_items(session, flt)
    return templates.TemplateResponse(request, "queue.html", {
        "web": web, "items": items, "f": flt, "targets": LABELS + FLAGS, "channels": CHANNELS, "rank_names": RANK_NAMES,
        "now": utcnow(), "bulk_names": BULK_NAMES})


@router.post("/next")
def next_item(web: ModeratorPageDep, session: SessionDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(web, csrf_token)
    item = claim_next(session, web.username)
    return RedirectResponse(f"/review/items/{item.id}" if item else "/review", status.HTTP_303_SEE_OTHER)


@router.post("/pull")
def pull_item(web: ModeratorPageDep, session: SessionDep, record_id: Annotated[str, Form(max_length=64)],
              csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(web, csrf_token)
    item = pull(session, record_id.strip(), web.username)  # not found: answered by api.errors.review_refused
    return RedirectResponse(f"/review/items/{item.id}", status.HTTP_303_SEE_OTHER)


def _segments(text: str, evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spans = sorted((e["start"], e["end"], f"{e['target']}: {e['source']}") for e in evidence
                   if e.get("start") is not None and e.get("end") is not None and e["end"] > e["start"])
    out, pos = [], 0
    for start, end, title in spans:
        if start < pos:
            continue  # overlapping evidence: the first span is enough to draw the eye
        out.append({"text": text[pos:start], "mark": False})
        out.append({"text": text[start:end], "mark": True, "title": title})
        pos = end
    out.append({"text": text[pos:], "mark": False})
    return out


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: str, web: ModeratorPageDep, session: SessionDep, message: str = "") -> Response:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review item")
    if item.status == "open":
        try:
            item = claim(session, item_id, web.username)
        except ReviewError as exc:
            message = str(exc)
    rec = session.get(ClassificationRecord, item.classification_id)
    assert rec is not None
    policy = rec.policy or {"priority": "low", "actions": [], "sla": None}
    model_labels, model_flags = model_choice(rec)
    return templates.TemplateResponse(request, "item.html", {
        "web": web, "item": item, "rec": rec, "message": message,
        "segments": _segments(rec.text, rec.evidence or []) if rec.text else [],
        "scores": sorted({**rec.scores, **{str(f): rec.flags.get(f"{f}_score", 0.0) for f in FLAGS}}.items(), key=lambda kv: -kv[1]),
        "decision": _Obj(policy), "labels": LABELS, "flags": FLAGS, "actions": ACTIONS,
        "current_labels": rec.labels or [], "current_flags": model_flags, "model_choice": model_labels + model_flags,
        "link": platform_link(rec.url), "history": author_history(session, [rec])[rec.id]})


class _Obj(dict):  # type: ignore[type-arg]
    """Lets the template say decision.priority for a stored policy dict."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return _Obj(value) if isinstance(value, dict) else value


@router.post("/items/{item_id}/decide")
def decide_form(item_id: str, web: ModeratorPageDep, session: SessionDep, csrf_token: Annotated[str, Form()] = "",
                labels: Annotated[list[str] | None, Form()] = None, flags: Annotated[list[str] | None, Form()] = None,
                action: Annotated[str, Form(max_length=50)] = "", note: Annotated[str, Form(max_length=1000)] = "") -> Response:
    _check_csrf(web, csrf_token)
    try:
        decide(session, item_id, web.username, labels=labels or [], flags=flags or [], action=action or None, note=note)
    except (ReviewConflict, ReviewInvalid) as exc:  # not found: answered by api.errors.review_refused
        return RedirectResponse(f"/review/items/{item_id}?message={exc}", status.HTTP_303_SEE_OTHER)
    nxt = claim_next(session, web.username)
    return RedirectResponse(f"/review/items/{nxt.id}" if nxt else "/review", status.HTTP_303_SEE_OTHER)


def _bulk_page(request: Request, web: Any, session: Any, plan: BulkPlan, result: BulkResult | None, back: str) -> Response:
    records = {r.id: r for r in session.scalars(select(ClassificationRecord).where(
        ClassificationRecord.id.in_([p.record_id for p in plan.items])))}
    return templates.TemplateResponse(request, "bulk.html", {
        "web": web, "plan": plan, "result": result, "records": records, "name": BULK_NAMES[plan.action], "back": back})


@router.post("/bulk", response_class=HTMLResponse)
def bulk_confirm(request: Request, web: ModeratorPageDep, session: SessionDep, csrf_token: Annotated[str, Form()] = "",
                 action: Annotated[str, Form(max_length=20)] = "", scope: Annotated[str, Form(max_length=20)] = "filter",
                 item_ids: Annotated[list[str] | None, Form()] = None, label: Annotated[str, Form(max_length=50)] = "",
                 channel: Annotated[str, Form(max_length=50)] = "", min_age_hours: Annotated[str, Form(max_length=50)] = "",
                 overdue: Annotated[bool, Form()] = False) -> Response:
    """The confirmation step: how many items the action will change, and which; nothing changes yet."""
    _check_csrf(web, csrf_token)
    flt = _queue_filter(label, channel, min_age_hours, overdue)
    if scope not in ("filter", "checked"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "choose every item the filter matches, or the ticked items")
    if scope == "checked" and not item_ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no items are ticked: tick the items to change, or "
                            "choose every item the filter matches")
    plan = plan_bulk(session, cast(BulkAction, action), web.username, flt=None if scope == "checked" else flt,
                     item_ids=item_ids if scope == "checked" else None)  # an unknown action: a 422 naming the actions
    back = "/review?" + urlencode({k: v for k, v in {"label": label, "channel": channel, "min_age_hours": min_age_hours,
                                                     "overdue": "1" if overdue else ""}.items() if v})
    return _bulk_page(request, web, session, plan, None, back)


@router.post("/bulk/apply", response_class=HTMLResponse)
def bulk_apply(request: Request, web: ModeratorPageDep, session: SessionDep, csrf_token: Annotated[str, Form()] = "",
               action: Annotated[str, Form(max_length=20)] = "", item_ids: Annotated[list[str] | None, Form()] = None,
               note: Annotated[str, Form(max_length=1000)] = "", back: Annotated[str, Form(max_length=2000)] = "/review") -> Response:
    """Decide the items the moderator confirmed (their ids, not the filter again: an item that arrived since
    the confirmation was never counted, so it is left alone)."""
    _check_csrf(web, csrf_token)
    plan = plan_bulk(session, cast(BulkAction, action), web.username, item_ids=item_ids or [])
    result = apply_bulk(session, plan, web.username, note=note or None)
    return _bulk_page(request, web, session, plan, result, back if back.startswith("/review") else "/review")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, web: ModeratorPageDep, session: SessionDep,
              days: int = Query(14, ge=1, le=MAX_DASHBOARD_DAYS)) -> Response:
    now = utcnow()
    since = now - timedelta(days=days)
    rows = session.execute(select(ClassificationRecord.created_at, ClassificationRecord.labels, ClassificationRecord.channel)
                           .where(ClassificationRecord.created_at >= since)).all()
    day_names = [(since + timedelta(days=i + 1)).date().isoformat() for i in range(days)]
    series: dict[str, list[int]] = {label: [0] * days for label in LABELS}
    by_channel: Counter[str] = Counter()
    for created, labels, channel in rows:
        index = min(days - 1, max(0, (created.date() - since.date()).days - 1)) if created.tzinfo else days - 1
        for label in labels or []:
            series[label][index] += 1
        by_channel[channel or "unknown"] += 1
    backlog = session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")) or 0
    overdue = session.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.status == "open", ReviewItem.due_at.is_not(None), ReviewItem.due_at < now)) or 0
    decisions = list(session.scalars(select(AuditEntry).where(AuditEntry.event == "decision", AuditEntry.at >= since)))
    overturn: list[tuple[str, float]] = []
    for target in LABELS + FLAGS:
        key = "labels" if target in LABELS else "flags"
        changed = sum(1 for d in decisions if (target in (d.model_said or {}).get(key, [])) != (target in (d.decided or {}).get(key, [])))
        overturn.append((target, changed / len(decisions) if decisions else 0.0))
    return templates.TemplateResponse(request, "dashboard.html", {
        "web": web, "days": days, "backlog": backlog, "overdue": overdue, "decided": len(decisions),
        "by_label_day": charts.columns(day_names, series), "by_channel": charts.bars(sorted(by_channel.items())),
        "overturn": charts.bars(overturn, fmt="{:.0%}", max_value=1.0)})
