"""FastAPI dependencies as `Annotated` aliases, in one place."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status

from core.resources import Resources

if TYPE_CHECKING:
    from pipeline.wiring import Pipeline

__all__ = ["AdminDep", "PipelineDep", "ResourcesDep"]


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def require_admin(request: Request) -> None:
    """Bearer `ADMIN_TOKEN`, compared in constant time; the API is off while the token is unset."""
    token = request.app.state.resources.settings.ADMIN_TOKEN
    if token is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The admin API is off: set ADMIN_TOKEN to use it."
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Send the admin token as 'Authorization: Bearer <ADMIN_TOKEN>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


ResourcesDep = Annotated[Resources, Depends(get_resources)]
PipelineDep = Annotated["Pipeline", Depends(get_pipeline)]
AdminDep = Depends(require_admin)
