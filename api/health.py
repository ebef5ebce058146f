"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.deps import ResourcesDep
from core.metrics import DEPENDENCY_UP

__all__ = ["router"]

router = APIRouter(tags=["health"])

# A dead dependency must give a fast 503, never a hanging probe.
CHECK_TIMEOUT_SECONDS = 2.0


class DependencyStatus(BaseModel):
    ok: bool
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    dependencies: dict[str, DependencyStatus]
    integrations: dict[str, bool]


async def _check(name: str, probe: asyncio.Future[object] | object) -> DependencyStatus:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except TimeoutError:
        status = DependencyStatus(ok=False, error="timed out")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type says which
        status = DependencyStatus(ok=False, error=type(exc).__name__)
    else:
        status = DependencyStatus(ok=True)
    DEPENDENCY_UP.labels(dependency=name).set(1 if status.ok else 0)
    return status


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness)
async def readyz(*, resources: ResourcesDep, response: Response) -> Readiness:
    """Redis and Postgres reachable; which integrations are configured (booleans only)."""

    async def postgres() -> None:
        async with resources.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    redis_status, postgres_status = await asyncio.gather(
        _check("redis", resources.redis.ping()), _check("postgres", postgres())
    )
    ready = redis_status.ok and postgres_status.ok
    response.status_code = 200 if ready else 503
    return Readiness(
        status="ready" if ready else "unavailable",
        dependencies={"redis": redis_status, "postgres": postgres_status},
        integrations=resources.settings.integrations(),
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
