"""A local stand-in for the HubSpot CRM v3/v4 endpoints that `integrations/crm/hubspot.py` calls.

The real `hubspot-api-client` talks to it over HTTP on 127.0.0.1 (run it with `ThreadedServer`,
point the client's host at `url`), so the tests exercise the library's own request building,
(de)serialization and errors. It speaks: contact search (filter groups ORed, filters ANDed, `EQ`),
contact update, contact and deal batch upsert by a unique `idProperty`, the v4 default
association PUT, and note creation with associations. Every request is recorded in `requests`;
`fail(...)` scripts failures, before the work (a refusal) or after it (`after=True`: the work is
done and the answer lost, as when a connection drops); a wrong bearer token gets HubSpot's 401.
`search_lag` hides new objects from that many searches, as HubSpot's search index lags behind
its writes.

State is shared between the server thread and the test, hence the lock.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.utils.servers import ThreadedServer

__all__ = ["ACCESS_TOKEN", "FakeHubSpot", "Recorded"]

ACCESS_TOKEN = "pat-na1-test-token"

_ERRORS = {
    401: {"status": "error", "category": "INVALID_AUTHENTICATION",
          "message": "Authentication credentials not found."},
    429: {"status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY",
          "message": "You have reached your secondly limit."},
    500: {"status": "error", "category": "INTERNAL_ERROR", "message": "internal error"},
    502: {"status": "error", "message": "Bad gateway"},
}


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    body: Any
    status: int


@dataclass(slots=True)
class _Failure:
    status: int
    times: int
    path: str | None
    after: bool


@dataclass(slots=True)
class _State:
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"contacts": {}, "deals": {}, "notes": {}}
    )
    associations: set[tuple[str, str, str, str]] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    searches: int = 0
    visible_at: dict[str, int] = field(default_factory=dict)
    """Object id -> the first search that sees it."""


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeHubSpot(ThreadedServer):
    def __init__(self, token: str = ACCESS_TOKEN) -> None:
        self.token = token
        self.search_lag = 0
        self._state = _State()
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        super().__init__(Starlette(routes=[
            Route("/crm/v3/objects/contacts/search", self._search, methods=["POST"]),
            Route("/crm/v3/objects/{kind}/batch/upsert", self._upsert, methods=["POST"]),
            Route("/crm/v3/objects/contacts/{id}", self._update, methods=["PATCH"]),
            Route("/crm/v3/objects/notes", self._create_note, methods=["POST"]),
            Route(
                "/crm/v4/objects/{from_kind}/{from_id}/associations/default/{to_kind}/{to_id}",
                self._associate, methods=["PUT"],
            ),
        ]))

    # --- What the test sets and reads ----------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self.search_lag = 0

    def fail(self, status: int, *, times: int = 1, path: str | None = None,
             after: bool = False) -> None:
        """The next `times` requests (whose path contains `path`) answer `status`; with `after`,
        the request's work is done first (the answer is lost)."""
        with self._lock:
            self._state.failures.append(_Failure(status, times, path, after))

    def add_contact(self, **properties: str) -> str:
        """A contact the team already has."""
        with self._lock:
            return self._create("contacts", properties)["id"]  # type: ignore[no-any-return]

    def objects(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(o) for o in self._state.objects[kind].values()]

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._state.requests)

    @property
    def associations(self) -> set[tuple[str, str, str, str]]:
        with self._lock:
            return set(self._state.associations)

    # --- The endpoints ---------------------------------------------------------------------------

    async def _answer(self, request: Request, work: Any) -> JSONResponse:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        path = request.url.path
        with self._lock:
            status, payload = self._serve(request, path, body, work)
            self._state.requests.append(Recorded(request.method, path, body, status))
        return JSONResponse(payload, status_code=status)

    def _serve(self, request: Request, path: str, body: Any, work: Any) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, _ERRORS[401]
        failure = next(
            (f for f in self._state.failures if f.times > 0 and (f.path or "") in path), None
        )
        if failure is not None:
            failure.times -= 1
            if failure.after:
                work(body)
            return failure.status, _ERRORS.get(failure.status, {"message": "error"})
        return 200, work(body)

    def _create(self, kind: str, properties: dict[str, Any]) -> dict[str, Any]:
        stamp, object_id = _now(), str(next(self._ids))
        record: dict[str, Any] = {
            "id": object_id, "properties": dict(properties), "createdAt": stamp,
            "updatedAt": stamp, "archived": False,
        }
        self._state.objects[kind][object_id] = record
        self._state.visible_at[object_id] = self._state.searches + self.search_lag + 1
        return record

    async def _search(self, request: Request) -> JSONResponse:
        def work(body: dict[str, Any]) -> dict[str, Any]:
            self._state.searches += 1

            def matches(obj: dict[str, Any], group: dict[str, Any]) -> bool:
                if self._state.visible_at[obj["id"]] > self._state.searches:
                    return False
                return all(
                    f["operator"] == "EQ" and obj["properties"].get(f["propertyName"]) == f["value"]
                    for f in group["filters"]
                )

            found = [
                o for o in self._state.objects["contacts"].values()
                if any(matches(o, g) for g in body.get("filterGroups", []))
            ][: body.get("limit", 10)]
            return {"total": len(found), "results": found}

        return await self._answer(request, work)

    async def _upsert(self, request: Request) -> JSONResponse:
        kind = request.path_params["kind"]

        def work(body: dict[str, Any]) -> dict[str, Any]:
            results = []
            for item in body["inputs"]:
                key, value = item["idProperty"], item["id"]
                existing = next(
                    (o for o in self._state.objects[kind].values()
                     if o["properties"].get(key) == value), None,
                )
                if existing is None:
                    record = self._create(kind, {**item["properties"], key: value})
                    results.append({**record, "new": True})
                else:
                    existing["properties"].update(item["properties"])
                    existing["updatedAt"] = _now()
                    results.append({**existing, "new": False})
            return {"status": "COMPLETE", "results": results, "startedAt": _now(),
                    "completedAt": _now()}

        return await self._answer(request, work)

    async def _update(self, request: Request) -> JSONResponse:
        contact_id = request.path_params["id"]

        def work(body: dict[str, Any]) -> dict[str, Any]:
            record = self._state.objects["contacts"][contact_id]
            record["properties"].update(body["properties"])
            record["updatedAt"] = _now()
            return record

        return await self._answer(request, work)

    async def _create_note(self, request: Request) -> JSONResponse:
        def work(body: dict[str, Any]) -> dict[str, Any]:
            record = self._create("notes", body["properties"])
            for association in body.get("associations", []):
                type_id = association["types"][0]["associationTypeId"]
                kind = {202: "contacts", 214: "deals"}[type_id]
                self._state.associations.add(("notes", record["id"], kind, association["to"]["id"]))
            return record

        return await self._answer(request, work)

    async def _associate(self, request: Request) -> JSONResponse:
        p = request.path_params

        def work(body: Any) -> dict[str, Any]:
            self._state.associations.add((p["from_kind"], p["from_id"], p["to_kind"], p["to_id"]))
            return {
                "status": "COMPLETE", "startedAt": _now(), "completedAt": _now(),
                "results": [{
                    "from": {"id": p["from_id"]}, "to": {"id": p["to_id"]},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                        "associationTypeId": 3},
                }],
            }

        return await self._answer(request, work)
