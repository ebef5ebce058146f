"""`make worker`: a process that runs burst workers, without the web app.

The web process builds the same pipeline (`pipeline.wiring`) and starts its workers only with
`WORKERS_IN_PROCESS=true`; run as many of these beside it as the load needs. On SIGTERM (a deploy)
or SIGINT it stops claiming, lets bursts in progress finish within `SHUTDOWN_GRACE_SECONDS` and
hands the rest back at once (`pipeline.workers.WorkerPool.stop`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from core.config import SettingsError, get_settings
from core.logs import configure_logging
from core.process import settle_garbage_collector
from core.resources import open_resources
from core.tracing import configure_tracing
from domain.business import BusinessProfileError, load_business
from pipeline.wiring import build_pipeline

__all__ = ["main"]

log = logging.getLogger(__name__)

CLAIM_ERROR_LOG_SECONDS = 60.0


async def _serve() -> int:
    try:
        settings = get_settings()
        load_business(settings.BUSINESS_FILE)
    except (SettingsError, BusinessProfileError) as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the command's own output
        return 2
    configure_logging(settings.LOG_LEVEL, fmt=settings.LOG_FORMAT)
    configure_tracing(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_resources(settings) as resources, build_pipeline(resources) as pipeline:
        pipeline.workers.start()
        settle_garbage_collector()
        log.info("worker process running %d loops", pipeline.workers.concurrency)
        await stop.wait()
        await pipeline.workers.stop()
    return 0


def main() -> int:
    # uvloop, as uvicorn runs the web process: the worker's loop is as busy as the web one.
    try:
        import uvloop
    except ImportError:  # uvloop does not build on Windows
        return asyncio.run(_serve())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve())


if __name__ == "__main__":
    sys.exit(main())
