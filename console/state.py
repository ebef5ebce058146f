"""What the console holds for the life of the app: its stores, the live feed, the sign-in limit,
the cookie secret and its templates. Opened in the app's lifespan (`open_console`)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.templating import Jinja2Templates

from console import views
from console.live import LiveFeed
from console.security import LoginLimiter
from console.users import UserStore
from integrations.leads.funnel import FunnelQueries
from integrations.leads.inbox import InboxQueries

if TYPE_CHECKING:
    import asyncpg

    from core.config import Settings
    from core.resources import Resources
    from pipeline.wiring import Pipeline

__all__ = ["Console", "TEMPLATES", "open_console"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")  # autoescapes every .html template
views.install_filters(TEMPLATES.env)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class Console:
    """The console's parts (see the module docstring)."""

    settings: Settings
    pipeline: Pipeline
    pool: asyncpg.Pool
    """The app's Postgres pool (the CRM page's delivery figures, `integrations.crm.status`)."""
    users: UserStore
    inbox: InboxQueries
    funnel: FunnelQueries
    feed: LiveFeed
    limiter: LoginLimiter
    secret: bytes
    """Signs the cookies: `SESSION_SECRET`, or a random one for this process."""
    clock: Callable[[], datetime]


@asynccontextmanager
async def open_console(
    resources: Resources, pipeline: Pipeline, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Console]:
    """The console over the app's resources and pipeline, its live feed listening."""
    settings = resources.settings
    now = clock or _utc_now
    if settings.SESSION_SECRET is not None:
        secret = settings.SESSION_SECRET.get_secret_value().encode()
    else:
        secret = secrets.token_bytes(32)
        log.warning(
            "SESSION_SECRET is unset: console sign-ins last until this process stops and work "
            "on this process only. Set it in production."
        )
    console = Console(
        settings=settings,
        pipeline=pipeline,
        pool=resources.pool,
        users=UserStore(
            resources.pool, clock=now,
            session_lifetime=timedelta(hours=settings.SESSION_HOURS),
        ),
        inbox=InboxQueries(
            resources.pool, human_idle=timedelta(hours=settings.HUMAN_IDLE_HOURS), clock=now
        ),
        funnel=FunnelQueries(resources.pool),
        feed=LiveFeed(resources.pool),
        limiter=LoginLimiter(
            resources.redis,
            max_attempts=settings.LOGIN_MAX_ATTEMPTS,
            window_seconds=settings.LOGIN_WINDOW_SECONDS,
        ),
        secret=secret,
        clock=now,
    )
    console.feed.start()
    if not await console.users.users():
        log.warning(
            "the console (/console) has no users yet: create the first with "
            "`make user EMAIL=you@example.com ROLE=admin`"
        )
    try:
        yield console
    finally:
        await console.feed.stop()
