"""Rendering a console page: the template with what every page shows (the person, their CSRF
token, the business's time zone for times)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from console.state import TEMPLATES

if TYPE_CHECKING:
    from console.deps import Session

__all__ = ["render"]


def render(
    request: Request,
    template: str,
    *,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """`template` (under console/templates) as an HTML response; values are escaped."""
    console = request.app.state.console
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user": session.user if session else None,
            "csrf": session.csrf_token if session else "",
            "zone": console.settings.TIMEZONE,
            **context,
        },
        status_code=status_code,
    )
