"""A local receiver of the lead-event webhooks, as a team would write one: it checks the
signature, answers with a scripted status, and records every request (run it with
`ThreadedServer`; state is shared with the test's thread, hence the lock).

Each path is a receiver of its own (`endpoint("/a")`, `endpoint("/b")`), so one server stands in for
several `CRM_WEBHOOK_URLS`. `fail(path, times, status)` makes the next `times` requests to `path`
fail. `accepted(path)` is what a deduplicating receiver keeps: the 2xx-answered events, first
copy of each id only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integrations.crm.signature import ID_HEADER, SIGNATURE_HEADER, verify
from tests.utils.servers import ThreadedServer

__all__ = ["CrmReceiver", "Delivery", "SECRET"]

SECRET = "whsec-test-0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Delivery:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class _State:
    deliveries: list[Delivery] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)


class CrmReceiver(ThreadedServer):
    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self._state = _State()
        self._lock = threading.Lock()
        super().__init__(
            Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        )

    def endpoint(self, path: str) -> str:
        return f"{self.url}{path}"

    def fail(self, path: str, times: int, status: int = 500) -> None:
        with self._lock:
            self._state.failures.setdefault(path, []).extend([status] * times)

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._state.deliveries if path is None or d.path == path]

    def accepted(self, path: str) -> list[dict[str, Any]]:
        seen: set[str] = set()
        events = []
        for delivery in self.deliveries(path):
            if 200 <= delivery.status < 300 and delivery.event["id"] not in seen:
                seen.add(delivery.event["id"])
                events.append(delivery.event)
        return events

    async def _receive(self, request: Request) -> JSONResponse:
        path = "/" + request.path_params["path"]
        body = await request.body()
        signature_ok = verify(
            self.secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=time.time()
        ) and json.loads(body)["id"] == request.headers.get(ID_HEADER)
        with self._lock:
            pending = self._state.failures.get(path) or []
            status = pending.pop(0) if pending else (200 if signature_ok else 401)
            self._state.deliveries.append(
                Delivery(path, status, dict(request.headers), body, signature_ok)
            )
        return JSONResponse({"ok": status < 300}, status_code=status)
