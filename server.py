"""The FastAPI app: webhooks, health, metrics, the admin API and the console, wired in one
lifespan.

`python -m server` validates the settings and the business profile (one clear line per invalid
variable or key, no traceback) and
serves the app with uvicorn; tests build the app with `create_app(settings)`.
"""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from api import admin, health, media, webhooks
from api.body_limit import BodyLimit
from api.errors import validation_error
from console.app import install as install_console
from console.state import open_console
from core.config import Settings, SettingsError, get_settings
from core.logs import configure_logging
from core.process import settle_garbage_collector
from core.resources import open_resources
from core.tracing import configure_tracing
from domain.business import BusinessProfileError, load_business
from pipeline.wiring import build_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["create_app", "main"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    db_server_settings: dict[str, str] | None = None,
    settle_gc: bool = False,
) -> FastAPI:
    """The app with its routes; resources open in the lifespan, so importing costs nothing.
    `settle_gc`: tune the garbage collector once started (`core.process`; the served app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = settings or get_settings()
        if active.ALLOW_UNSIGNED_WEBHOOKS:
            log.warning(
                "ALLOW_UNSIGNED_WEBHOOKS=true: webhooks without a configured secret accept "
                "UNSIGNED requests. Use this for local development only."
            )
        async with (
            open_resources(active, server_settings=db_server_settings) as resources,
            build_pipeline(resources) as pipeline,
            open_console(resources, pipeline) as console,
        ):
            app.state.resources = resources
            app.state.pipeline = pipeline
            app.state.console = console
            pipeline.start_background(workers=active.WORKERS_IN_PROCESS)
            log.info(
                "ready: workers in process %s, integrations %s",
                active.WORKERS_IN_PROCESS, active.integrations(),
            )
            if settle_gc:
                settle_garbage_collector()
            yield

    app = FastAPI(title="WhatsApp sales agent", lifespan=lifespan)

    def max_body_bytes() -> int:
        limit: int = app.state.resources.settings.MAX_BODY_BYTES
        return limit

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.include_router(media.router)
    install_console(app)
    return app


def main() -> int:
    """Validate the settings, then serve the app on HOST:PORT."""
    try:
        settings = get_settings()
        load_business(settings.BUSINESS_FILE)
    except (SettingsError, BusinessProfileError) as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the command's own output
        return 2
    configure_logging(settings.LOG_LEVEL, fmt=settings.LOG_FORMAT)
    configure_tracing(settings)
    import uvicorn

    uvicorn.run(
        create_app(settings, settle_gc=True),
        host=settings.HOST,
        port=settings.PORT,
        log_level="info",
        log_config=None,  # uvicorn's own lines go through configure_logging (LOG_FORMAT) too
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        access_log=False,
        # The console's event streams never end by themselves: at shutdown, give open
        # requests this long, then close them (the browsers reconnect to another process).
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
