"""The request body limit (`MAX_BODY_BYTES`): enforced while the body is read, before anything
looks at it.

A webhook must read its whole body before it can check the signature (Meta's HMAC covers the raw
bytes; Twilio's covers the parsed form), so without a limit anyone could make the process buffer
hundreds of megabytes before the 403 (four 150 MB posts took it from 181 MB to 909 MB). This pure
ASGI middleware refuses a declared `Content-Length` over the limit at once, and counts the bytes of
a body sent without one (chunked), failing the read with a 413 as soon as the count passes it: at
most the limit plus one chunk is ever held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import HTTPException, status
from starlette.responses import PlainTextResponse

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]

log = logging.getLogger(__name__)


def _too_large(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes this server accepts."


class BodyLimit:
    """Refuses request bodies over `max_bytes()` with 413 (see the module docstring).

    `max_bytes` is read per request: the settings are known once the app's lifespan started."""

    def __init__(self, app: ASGIApp, *, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            log.warning("%s %s refused (413): a body of %d bytes", scope["method"],
                        scope["path"], declared)
            response = PlainTextResponse(_too_large(limit), status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    log.warning("%s %s refused (413): the body passed %d bytes",
                                scope["method"], scope["path"], limit)
                    # Raised inside the route's body read; FastAPI answers it as a 413.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None
