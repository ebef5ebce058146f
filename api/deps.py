"""FastAPI dependencies as `Annotated` aliases, in one place."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.resources import Resources

__all__ = ["ResourcesDep"]


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]
