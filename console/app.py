"""Putting the console into the FastAPI app: its routers, its static files, its security headers
and the pages its refusals become. `server.py` calls `install(app)` when it builds the app and
opens the console (`console.state.open_console`) in its lifespan."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from console import auth, crm, funnel, inbox, people
from console.deps import CsrfRefused, Forbidden, PasswordChangeRequired, SignInRequired
from console.pages import render
from console.security import ConsoleHeaders

__all__ = ["install"]

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}


async def static_file(name: str) -> Response:
    """The console's own stylesheet and script (nothing else is served from disk)."""
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return FileResponse(
        STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"}
    )


def _wants_page(request: Request) -> bool:
    """A page navigation (GET of HTML) rather than a form post, fragment or event stream."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.endswith(("/events", "/live", "/conversations"))
    )


async def sign_in_required(request: Request, exc: Exception) -> Response:
    if _wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"/console/login?next={quote(target, safe='')}", status_code=status.HTTP_303_SEE_OTHER
        )
    return PlainTextResponse("Sign in first.", status_code=status.HTTP_401_UNAUTHORIZED)


async def forbidden(request: Request, exc: Exception) -> Response:
    return render(
        request, "error.html", session=None, status_code=status.HTTP_403_FORBIDDEN,
        title="Admins only", message="This page is for admins of the console.",
    )


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return render(
        request, "error.html", session=None, status_code=status.HTTP_403_FORBIDDEN,
        title="Form refused",
        message="The form came without a valid token (it is stale, or another site sent it). "
        "Go back, reload the page and try again.",
    )


async def password_change_required(request: Request, exc: Exception) -> Response:
    if _wants_page(request):
        return RedirectResponse("/console/password", status_code=status.HTTP_303_SEE_OTHER)
    return PlainTextResponse("Set your password first.", status_code=status.HTTP_403_FORBIDDEN)


def install(app: FastAPI) -> None:
    """Add the console to `app` (routes under `/console`)."""
    app.add_middleware(ConsoleHeaders, prefix="/console")
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(PasswordChangeRequired, password_change_required)
    app.add_api_route("/console/static/{name}", static_file, include_in_schema=False)
    for module in (auth, inbox, funnel, crm, people):
        app.include_router(module.router)
