"""Running an ASGI app on 127.0.0.1 in a background thread, for local stand-ins of remote APIs."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """Serve `app` with uvicorn on a free loopback port, in a thread with its own event loop.

    A thread (not the test's loop) so that blocking clients (googleapiclient, twilio) can talk to it
    too, and a slow response never stalls the code under test."""

    def __init__(self, app: Any, *, lifespan: Literal["on", "off"] = "off") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        # `lifespan="on"` runs the app's own start-up and shutdown (the whole service, not a
        # stand-in); `stop` then waits for its shutdown.
        config = uvicorn.Config(
            app, log_level="warning", lifespan=lifespan, timeout_keep_alive=30, log_config=None
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the local test server did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
