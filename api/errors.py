"""How the app answers a request it refuses: a 422 that can always be written.

FastAPI's own 422 echoes the offending input; a lone surrogate in it (a `\\ud800` escape or its raw
bytes in a JSON body) cannot be encoded as UTF-8, so the refusal itself failed with a 500. The
handler here replaces such characters in the echo: a refusal stays a refusal.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.text import without_lone_surrogates

__all__ = ["validation_error"]


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with any lone surrogate in the echoed input replaced by U+FFFD."""
    assert isinstance(exc, RequestValidationError)
    detail = without_lone_surrogates(jsonable_encoder(exc.errors()))
    return JSONResponse(status_code=422, content={"detail": detail})
