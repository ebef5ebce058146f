"""The console's people, for admins: add a person (or reset one, by email), give someone a new
one-time password, remove someone. A new password is shown once, on the page that made it."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import HTMLResponse

from console.deps import AdminDep, ConsoleDep, FormDep
from console.pages import render
from console.users import ROLES, UserError

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console/users", include_in_schema=False)

UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _page(
    request: Request,
    console: ConsoleDep,
    session: AdminDep,
    *,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    return render(
        request, "users.html", session=session, users=await console.users.users(), roles=ROLES,
        status_code=status_code, **context,
    )


@router.get("")
async def people(request: Request, console: ConsoleDep, session: AdminDep) -> HTMLResponse:
    """Everyone who can sign in."""
    return await _page(request, console, session)


@router.post("")
async def add_person(
    request: Request, console: ConsoleDep, session: AdminDep, form: FormDep
) -> HTMLResponse:
    """Add a person, or reset the one with that email; shows their one-time password."""
    try:
        user, password = await console.users.put_user(
            email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "")
        )
    except UserError as exc:
        return await _page(
            request, console, session, error=str(exc), status_code=status.HTTP_400_BAD_REQUEST
        )
    log.info("console: user %d added or reset user %d", session.user.id, user.id)
    return await _page(request, console, session, made=user, password=password)


@router.post("/{user_id}/reset")
async def reset(
    request: Request, console: ConsoleDep, session: AdminDep, form: FormDep, user_id: UserId
) -> HTMLResponse:
    """A new one-time password for the person; their sessions end."""
    password = await console.users.reset_password(user_id)
    user = await console.users.user(user_id)
    if password is None or user is None:
        return await _page(
            request, console, session, error="No such person.",
            status_code=status.HTTP_404_NOT_FOUND,
        )
    log.info("console: user %d reset the password of user %d", session.user.id, user_id)
    return await _page(request, console, session, made=user, password=password)


@router.post("/{user_id}/remove")
async def remove(
    request: Request, console: ConsoleDep, session: AdminDep, form: FormDep, user_id: UserId
) -> HTMLResponse:
    """Remove the person (not oneself, not the last admin)."""
    if user_id == session.user.id:
        return await _page(
            request, console, session, error="You cannot remove yourself.",
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    try:
        removed = await console.users.remove_user(user_id)
    except UserError as exc:
        return await _page(
            request, console, session, error=str(exc), status_code=status.HTTP_400_BAD_REQUEST
        )
    if removed:
        log.info("console: user %d removed user %d", session.user.id, user_id)
    return await _page(request, console, session, notice="Removed." if removed else None)
