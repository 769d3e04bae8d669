"""``/openapi.json``, ``/docs`` and ``/redoc``: open when API keys are not required (loopback), else for any
valid key. FastAPI's own doc routes are turned off in :mod:`api.main` and served here behind the check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api.deps import DocsScope

router = APIRouter(include_in_schema=False, dependencies=[DocsScope])

# FastAPI's doc pages load Swagger UI and ReDoc from a CDN and start them with an inline script; they show the
# spec, never a comment, so they get their own policy (the review pages' is stricter: api.headers).
DOCS_CSP = ("default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
            "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; font-src https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = DOCS_CSP
    return page


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    return _with_policy(get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - API"))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _with_policy(get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - API"))
