"""A local stand-in for Google Calendar v3 and Google's OAuth2 token endpoint.

The real `google-api-python-client` and `google-auth` talk to it over HTTP on 127.0.0.1 (run it
with `ThreadedServer`), so the tests exercise the same request building, auth flow and error
parsing as production. It speaks only what `integrations/calendar/google.py` uses: freeBusy.query,
events insert/list/get/patch/update/delete (with Google's 409 on a duplicate id and 410 on a
deleted event; list filters by `privateExtendedProperty` and hides deleted events unless
`showDeleted`),
and the JWT-bearer token grant of service accounts (the assertion's signature is checked against
the key of `service_account_file`). Switches inject failures (`fail`, `fail_after_insert`), late
free/busy answers (`slow_freebusy`) and busy time (`add_busy`); every calendar request is
recorded in `requests`.

State is shared between the server thread and the test, hence the lock.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeGoogleCalendar", "RecordedRequest", "service_account_file"]

_EVENT_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuv")
_TOKEN_PATH = "/token"
# google-auth always addresses the grant to Google's endpoint, wherever `token_uri` points.
_GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass(slots=True)
class _Failure:
    status: int
    reason: str
    times: int
    operation: str | None


@dataclass(slots=True)
class _State:
    events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    busy: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    failures: list[_Failure] = field(default_factory=list)
    fail_after_insert: int = 0
    freebusy_delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    token_claims: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


def _error(status: int, reason: str, message: str | None = None) -> JSONResponse:
    message = message or reason
    domain = "usageLimits" if "Limit" in reason else "global"
    return JSONResponse(
        {"error": {"errors": [{"domain": domain, "reason": reason, "message": message}],
                   "code": status, "message": message}},
        status_code=status,
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FakeGoogleCalendar:
    """The fake server: `app` is the ASGI app; the rest is for the test to steer and inspect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        prefix = "/calendar/v3"
        self.app = Starlette(routes=[
            Route(_TOKEN_PATH, self._token, methods=["POST"]),
            Route(f"{prefix}/freeBusy", self._freebusy, methods=["POST"]),
            Route(f"{prefix}/calendars/{{calendar_id}}/events", self._insert, methods=["POST"]),
            Route(f"{prefix}/calendars/{{calendar_id}}/events", self._list, methods=["GET"]),
            Route(
                f"{prefix}/calendars/{{calendar_id}}/events/{{event_id}}", self._event,
                methods=["GET", "PATCH", "PUT", "DELETE"],
            ),
        ])

    # --- steering ------------------------------------------------------------------------

    def service_account_file(self, directory: Path, base_url: str) -> Path:
        """Write a service-account JSON key whose `token_uri` is this server's token endpoint."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return service_account_file(directory, pem=pem, token_uri=base_url + _TOKEN_PATH)

    def fail(
        self, status: int, reason: str, *, times: int = 1, operation: str | None = None
    ) -> None:
        """Answer the next `times` calendar requests (of `operation`: freebusy, insert, get,
        patch, delete; any when None) with this error."""
        with self._lock:
            self._state.failures.append(_Failure(status, reason, times, operation))

    def fail_after_insert(self, times: int = 1) -> None:
        """Store the next `times` inserted events but answer 503, as if the response was lost."""
        with self._lock:
            self._state.fail_after_insert = times

    def slow_freebusy(self, seconds: float) -> None:
        """Answer free/busy queries `seconds` late, as read when they arrived: two bookings
        racing between their free/busy check and their insert both see the slot free."""
        with self._lock:
            self._state.freebusy_delay = seconds

    def add_busy(self, calendar_id: str, start: datetime, end: datetime) -> None:
        """Mark time busy in a calendar (someone else's meeting)."""
        with self._lock:
            self._state.busy.setdefault(calendar_id, []).append((start, end))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def requests_of(self, method: str, path_suffix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    @property
    def token_claims(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.token_claims)

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for (cid, _), e in self._state.events.items() if cid == calendar_id]

    def reset(self) -> None:
        with self._lock:
            tokens = self._state.tokens
            self._state = _State(tokens=tokens)

    # --- endpoints -----------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion")), self._key.public_key(), algorithms=["RS256"],
                audience=_GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.PyJWTError as exc:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(exc)}, status_code=400
            )
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._state.token_claims.append(claims)
            self._state.tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _enter(self, request: Request, operation: str) -> tuple[Any, Response | None]:
        """Record the request, check its token, and apply an injected failure if one is due."""
        raw = await request.body()
        body = json.loads(raw) if raw else None
        recorded = RecordedRequest(
            request.method, request.url.path, dict(request.query_params), body
        )
        auth = request.headers.get("authorization", "")
        with self._lock:
            self._state.requests.append(recorded)
            if not auth.startswith("Bearer ") or auth[7:] not in self._state.tokens:
                return body, _error(401, "authError", "Invalid Credentials")
            for failure in self._state.failures:
                if failure.times > 0 and failure.operation in (None, operation):
                    failure.times -= 1
                    return body, _error(failure.status, failure.reason)
        return body, None

    async def _freebusy(self, request: Request) -> Response:
        body, failed = await self._enter(request, "freebusy")
        if failed is not None:
            return failed
        time_min, time_max = _parse(body["timeMin"]), _parse(body["timeMax"])
        calendars: dict[str, Any] = {}
        with self._lock:
            for item in body.get("items", []):
                cid = item["id"]
                intervals = list(self._state.busy.get(cid, []))
                for (event_cid, _), event in self._state.events.items():
                    if event_cid == cid and event.get("status") != "cancelled":
                        start = _parse(event["start"]["dateTime"])
                        intervals.append((start, _parse(event["end"]["dateTime"])))
                busy = sorted(
                    (max(s, time_min), min(e, time_max))
                    for s, e in intervals if s < time_max and e > time_min
                )
                calendars[cid] = {
                    "busy": [{"start": _rfc3339(s), "end": _rfc3339(e)} for s, e in busy]
                }
            delay = self._state.freebusy_delay
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse({
            "kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"],
            "calendars": calendars,
        })

    async def _insert(self, request: Request) -> Response:
        body, failed = await self._enter(request, "insert")
        if failed is not None:
            return failed
        calendar_id = request.path_params["calendar_id"]
        event_id = body.get("id") or secrets.token_hex(13)
        if not (5 <= len(event_id) <= 1024 and set(event_id) <= _EVENT_ID_CHARS):
            return _error(400, "invalid", "Invalid resource id value.")
        event = dict(body, id=event_id, status=body.get("status", "confirmed"), sequence=0)
        event["htmlLink"] = f"https://calendar.example/event?eid={event_id}"
        event["attendees"] = [
            dict(a, responseStatus="needsAction") for a in body.get("attendees", [])
        ]
        create = body.get("conferenceData", {}).get("createRequest")
        if create and request.query_params.get("conferenceDataVersion") == "1":
            link = f"https://meet.google.com/{event_id[:3]}-{event_id[3:7]}-{event_id[7:10]}"
            event["hangoutLink"] = link
            event["conferenceData"] = {
                "createRequest": dict(create, status={"statusCode": "success"}),
                "entryPoints": [{"entryPointType": "video", "uri": link}],
            }
        with self._lock:
            if (calendar_id, event_id) in self._state.events:
                return _error(409, "duplicate", "The requested identifier already exists.")
            self._state.events[(calendar_id, event_id)] = event
            if self._state.fail_after_insert > 0:
                self._state.fail_after_insert -= 1
                return _error(503, "backendError", "Backend Error")
        return JSONResponse(event)

    async def _list(self, request: Request) -> Response:
        _, failed = await self._enter(request, "list")
        if failed is not None:
            return failed
        calendar_id = request.path_params["calendar_id"]
        name, _, value = request.query_params.get("privateExtendedProperty", "").partition("=")
        deleted = request.query_params.get("showDeleted") == "true"

        def matches(event: dict[str, Any]) -> bool:
            private = event.get("extendedProperties", {}).get("private", {})
            return (deleted or event.get("status") != "cancelled") and (
                not name or private.get(name) == value
            )

        with self._lock:
            items = [
                dict(event) for (cid, _), event in self._state.events.items()
                if cid == calendar_id and matches(event)
            ]
        return JSONResponse({"kind": "calendar#events", "items": items})

    async def _event(self, request: Request) -> Response:
        operation = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[
            request.method
        ]
        body, failed = await self._enter(request, operation)
        if failed is not None:
            return failed
        key = (request.path_params["calendar_id"], request.path_params["event_id"])
        with self._lock:
            event = self._state.events.get(key)
            if event is None:
                return _error(404, "notFound", "Not Found")
            if request.method == "GET":
                return JSONResponse(event)
            if request.method == "DELETE":
                if event["status"] == "cancelled":
                    return _error(410, "deleted", "Resource has been deleted")
                event["status"] = "cancelled"
                event["sequence"] += 1
                return Response(status_code=204)
            if request.method == "PUT":  # a full update: what the body lacks goes
                kept: dict[str, Any] = {
                    k: event[k] for k in ("id", "htmlLink", "sequence") if k in event
                }
                event.clear()
                event.update(kept)
                event.update({k: v for k, v in body.items() if k != "id"})
                event.setdefault("status", "confirmed")
            else:
                event.update({k: v for k, v in body.items() if k != "id"})
            event["sequence"] += 1
            return JSONResponse(event)


def service_account_file(directory: Path, *, pem: str, token_uri: str) -> Path:
    """A service-account key file as the Google Cloud console downloads it."""
    path = directory / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": "sales-agent@test-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "",
        "universe_domain": "googleapis.com",
    }))
    return path
