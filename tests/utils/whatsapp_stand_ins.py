"""Local stand-ins for Twilio's Messages API and Meta's Graph API, run with `ThreadedServer`.

Each checks credentials the way the provider does, records every request it accepted for the
test to inspect, and answers from a script of canned responses (default: success)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["MetaStandIn", "Recorded", "Scripted", "TwilioStandIn"]

ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "twilio-test-auth-token"
ACCESS_TOKEN = "EAAG-test-access-token"
PHONE_NUMBER_ID = "106540352242922"


@dataclass
class Recorded:
    path: str
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str | None, bytes, str | None]] = field(default_factory=dict)


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _StandIn:
    delay: float = 0.0

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.attempts = 0
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.attempts = 0
            self.delay = 0.0

    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self._script.extend(responses)

    def _next(self) -> Scripted | None:
        with self._lock:
            self.attempts += 1
            return self._script.popleft() if self._script else None

    @staticmethod
    def _answer(scripted: Scripted) -> Response:
        if scripted.body is None:
            return Response(status_code=scripted.status, headers=scripted.headers)
        return JSONResponse(scripted.body, status_code=scripted.status, headers=scripted.headers)


class TwilioStandIn(_StandIn):
    """`POST /2010-04-01/Accounts/{sid}/Messages.json` and the Content API's `POST /v1/Content`
    (its own host at Twilio; here the same server), HTTP basic auth with SID and token.

    A message sent by `ContentSid` must name a content this stand-in created (or an approved
    template's SID, `approved`), as Twilio refuses an unknown one (error 21655)."""

    def __init__(self) -> None:
        super().__init__()
        self.contents: dict[str, Any] = {}
        """Created content templates by SID: their request body."""
        self.approved: set[str] = set()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.contents.clear()
            self.approved.clear()

    def app(self) -> Starlette:
        def refused(request: Request, sid: str = ACCOUNT_SID) -> Response | None:
            auth = request.headers.get("authorization", "")
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if auth != expected or sid != ACCOUNT_SID:
                return JSONResponse(
                    {"code": 20003, "message": "Authenticate", "status": 401,
                     "more_info": "https://www.twilio.com/docs/errors/20003"},
                    status_code=401,
                )
            return None

        async def content(request: Request) -> Response:
            if (failure := refused(request)) is not None:
                return failure
            body = await request.json()
            scripted = self._next()
            if scripted is not None and scripted.status >= 300:
                return self._answer(scripted)
            self.requests.append(Recorded(path=request.url.path, json=body))
            sid = f"HX{len(self.contents) + 1:032x}"
            with self._lock:
                self.contents[sid] = body
            return JSONResponse(
                {"sid": sid, "account_sid": ACCOUNT_SID, "friendly_name": body.get("friendly_name"),
                 "language": body.get("language"), "types": body.get("types")},
                status_code=201,
            )

        async def messages(request: Request) -> Response:
            if (failure := refused(request, request.path_params["sid"])) is not None:
                return failure
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            content_sid = form.get("ContentSid")
            if content_sid and content_sid not in self.contents | dict.fromkeys(self.approved):
                return JSONResponse(
                    {"code": 21655, "message": "The ContentSid is Invalid", "status": 400},
                    status_code=400,
                )
            scripted = self._next()
            if scripted is not None and scripted.status >= 300:
                return self._answer(scripted)
            self.requests.append(Recorded(path=request.url.path, form=form))
            if scripted is not None:
                return self._answer(scripted)
            number = len(self.requests)
            return JSONResponse(
                {"sid": f"SM{number:032x}", "status": "queued", "to": form.get("To"),
                 "from": form.get("From"), "body": form.get("Body"), "num_segments": "1"},
                status_code=201,
            )

        return Starlette(routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"]),
            Route("/v1/Content", content, methods=["POST"]),
        ])


class MetaStandIn(_StandIn):
    """`POST /v21.0/{phone_number_id}/messages` and `/media`, bearer token. `delay`: seconds each
    message takes to be accepted (a provider under load; concurrent senders then overlap)."""

    def app(self) -> Starlette:
        def refused(request: Request) -> Response | None:
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return JSONResponse(
                    {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                               "code": 190, "fbtrace_id": "AbCdEf"}},
                    status_code=401,
                )
            if request.path_params["phone_id"] != PHONE_NUMBER_ID:
                return JSONResponse({"error": {"message": "Unknown path", "code": 100}}, 400)
            return None

        async def messages(request: Request) -> Response:
            if (failure := refused(request)) is not None:
                return failure
            body = await request.json()
            if self.delay:
                await asyncio.sleep(self.delay)
            scripted = self._next()
            if scripted is not None and scripted.status >= 300:
                return self._answer(scripted)
            self.requests.append(Recorded(path=request.url.path, json=body))
            if scripted is not None:
                return self._answer(scripted)
            if body.get("status") == "read":
                return JSONResponse({"success": True})
            number = len(self.requests)
            return JSONResponse({
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": str(body.get("to")).lstrip("+")}],
                "messages": [{"id": f"wamid.OUT{number}"}],
            })

        async def media(request: Request) -> Response:
            if (failure := refused(request)) is not None:
                return failure
            form = await request.form()
            scripted = self._next()
            if scripted is not None:
                return self._answer(scripted)
            files = {}
            fields = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:
                    files[key] = (value.filename, await value.read(), value.content_type)
            self.requests.append(Recorded(path=request.url.path, form=fields, files=files))
            return JSONResponse({"id": "4490709327384033"})

        return Starlette(routes=[
            Route("/v21.0/{phone_id}/messages", messages, methods=["POST"]),
            Route("/v21.0/{phone_id}/media", media, methods=["POST"]),
        ])
