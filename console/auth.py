"""Signing in and out of the console, and setting one's own password.

The sign-in form has no session yet, so its CSRF token is a random value in a short-lived signed
cookie that the form repeats (another site can neither read the cookie nor set it). Attempts are
counted per client address and per email (`LOGIN_MAX_ATTEMPTS` per `LOGIN_WINDOW_SECONDS`), before
the password is checked; an unknown email and a wrong password get the same answer.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.deps import LOGIN_COOKIE, SESSION_COOKIE, ConsoleDep, FormDep, SessionDep
from console.pages import render
from console.security import sign, unsign
from console.state import Console
from console.users import MIN_PASSWORD_CHARS, UserError

__all__ = ["router", "safe_next"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)

LOGIN_COOKIE_SECONDS = 3600


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path of this site, never another site."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console"


def _secure(request: Request, console: Console) -> bool:
    """Whether cookies get the Secure flag (`SESSION_COOKIE_SECURE`, or HTTPS in use)."""
    settings = console.settings
    if settings.SESSION_COOKIE_SECURE is not None:
        return settings.SESSION_COOKIE_SECURE
    public = str(settings.PUBLIC_BASE_URL or "")
    return request.url.scheme == "https" or public.startswith("https://")


def _login_page(
    request: Request, console: Console, *, next_path: str, error: str | None = None,
    status_code: int = 200, email: str = "",
) -> HTMLResponse:
    value = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", session=None, status_code=status_code, csrf=value,
        next_path=next_path, error=error, email=email,
    )
    response.set_cookie(
        LOGIN_COOKIE, sign(console.secret, value), max_age=LOGIN_COOKIE_SECONDS,
        path="/console", httponly=True, samesite="strict", secure=_secure(request, console),
    )
    return response


@router.get("/login")
async def login_form(request: Request, console: ConsoleDep, next: str | None = None) -> Response:
    """The sign-in page."""
    return _login_page(request, console, next_path=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    console: ConsoleDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    """Check the password and start a session; refused past the attempts' limit."""
    next_path = safe_next(next)
    expected = unsign(console.secret, request.cookies.get(LOGIN_COOKIE))
    if expected is None or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _login_page(
            request, console, next_path=next_path, status_code=status.HTTP_403_FORBIDDEN,
            error="The form expired or came from elsewhere. Please sign in again.",
        )
    address = request.client.host if request.client else "?"
    wait = await console.limiter.attempt(address=address, email=email)
    if wait is not None:
        log.warning("console sign-in refused: too many attempts")
        response = _login_page(
            request, console, next_path=next_path, email=email,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            error=f"Too many sign-in attempts. Try again in {max(wait // 60, 1)} min.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = await console.users.authenticate(email, password)
    if user is None:
        return _login_page(
            request, console, next_path=next_path, email=email,
            status_code=status.HTTP_401_UNAUTHORIZED, error="Wrong email or password.",
        )
    await console.limiter.forget(email=email)
    token = await console.users.start_session(user)
    log.info("console sign-in: user %d (%s)", user.id, user.role)
    target = "/console/password" if user.password_expired else next_path
    signed_in = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    signed_in.set_cookie(
        SESSION_COOKIE, sign(console.secret, token),
        max_age=int(console.settings.SESSION_HOURS * 3600), path="/console", httponly=True,
        samesite="lax", secure=_secure(request, console),
    )
    signed_in.delete_cookie(LOGIN_COOKIE, path="/console")
    return signed_in


@router.post("/logout")
async def logout(console: ConsoleDep, session: SessionDep, form: FormDep) -> Response:
    """End this session."""
    await console.users.end_session(session.token)
    response = RedirectResponse("/console/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.get("/password")
async def password_form(request: Request, session: SessionDep) -> Response:
    """The form to set one's own password (required after a one-time password)."""
    return render(request, "password.html", session=session, minimum=MIN_PASSWORD_CHARS)


@router.post("/password")
async def set_password(
    request: Request, console: ConsoleDep, session: SessionDep, form: FormDep
) -> Response:
    """Set one's own password; one's other sessions end."""
    password, repeated = form.get("password", ""), form.get("repeat", "")
    error = None
    if password != repeated:
        error = "The two passwords differ."
    else:
        try:
            await console.users.change_password(
                session.user.id, password, keep_token=session.token
            )
        except UserError as exc:
            error = str(exc)
    if error is not None:
        return render(
            request, "password.html", session=session, minimum=MIN_PASSWORD_CHARS, error=error,
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    return RedirectResponse("/console?done=password", status_code=status.HTTP_303_SEE_OTHER)
