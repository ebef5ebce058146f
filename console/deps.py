"""The console's FastAPI dependencies, as `Annotated` aliases: the console itself, the signed-in
person (any role, or an admin), and the CSRF check of a form.

Refusals are exceptions of their own (`SignInRequired`, `Forbidden`, `CsrfRefused`), which the
console's handlers turn into pages (`console.app`): a page asked for without a session redirects
to the sign-in page, anything else (a form post, a fragment, the event stream) gets a 401.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from console.security import unsign
from console.state import Console
from console.users import SignIn, User

__all__ = [
    "AdminDep",
    "ConsoleDep",
    "CsrfRefused",
    "Forbidden",
    "FormDep",
    "LOGIN_COOKIE",
    "PasswordChangeRequired",
    "SESSION_COOKIE",
    "Session",
    "SessionDep",
    "SignInRequired",
]

SESSION_COOKIE = "wa_console"
LOGIN_COOKIE = "wa_console_login"
"""The sign-in form's CSRF value, before there is a session (signed, short-lived)."""


class SignInRequired(Exception):
    """No valid session: sign in first."""


class Forbidden(Exception):
    """Signed in, but this page is for admins."""


class CsrfRefused(Exception):
    """A form came without this session's CSRF token (another site posted it, or it is stale)."""


class PasswordChangeRequired(Exception):
    """The person signed in with a one-time password: they set their own first."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The signed-in person, their CSRF token and the session's cookie token."""

    user: User
    csrf_token: str
    token: str


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


async def current_session(request: Request, console: ConsoleDep) -> Session:
    token = unsign(console.secret, request.cookies.get(SESSION_COOKIE))
    sign_in: SignIn | None = await console.users.session(token) if token else None
    if token is None or sign_in is None:
        raise SignInRequired
    if sign_in.user.password_expired and request.url.path not in (
        "/console/password", "/console/logout"
    ):
        raise PasswordChangeRequired
    return Session(user=sign_in.user, csrf_token=sign_in.csrf_token, token=token)


SessionDep = Annotated[Session, Depends(current_session)]


async def admin_session(session: SessionDep) -> Session:
    if not session.user.is_admin:
        raise Forbidden
    return session


AdminDep = Annotated[Session, Depends(admin_session)]


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """The posted form's text fields, once its CSRF token matched the session's."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    given = fields.pop("csrf", "")
    if not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise CsrfRefused
    return fields


FormDep = Annotated[dict[str, str], Depends(checked_form)]
