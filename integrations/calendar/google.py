"""Google Calendar behind the `Calendar` protocol, through `google-api-python-client`.

A service account (optionally impersonating a Workspace user: without domain-wide delegation a
service account may not invite attendees) books calls in `GOOGLE_CALENDAR_ID`; free/busy is read
over that calendar and any extra ones (the salespeople's own).

Why it is built this way:
- No double booking, no false confirmation: `book` and `reschedule` ask free/busy for the slot
  right before writing and raise `SlotTaken` when it went meanwhile. Google has no atomic
  "insert if free", so the check and the write run under a Postgres advisory lock per calendar
  (`integrations.calendar.lock.BookingLock`): two leads racing for one slot through two
  processes get one booking and one `SlotTaken`.
- Erasure (`erase_attendee`): the agent's events carry the lead's number in a private extended
  property, so a data-deletion request finds every one of them (cancelled ones too: Google keeps
  deleted events), replaces each with a bare "erased" event (a full update, so no attendee,
  description or property survives) and deletes it, without notifying anyone.
- Idempotency: the event id is derived from the caller's key (base32hex of its SHA-256, a valid
  Google event id), so a retried booking finds its event (by GET first, or by the 409 of a racing
  insert) instead of making a second one. Google keeps deleted events, so a key whose event was
  cancelled books again by reviving that event.
- Errors: 5xx, 429, 403 `rateLimitExceeded`/`userRateLimitExceeded` and transport failures are
  retried with exponential backoff (tenacity), then become `CalendarUnavailable`; auth and
  permission errors (401, 403 `forbidden`, ...) are not retried and become `CalendarError` with
  what to fix. The library's own retries are off (`num_retries=0`) so there is one policy.
- googleapiclient is blocking and httplib2 is not thread-safe: calls run in `asyncio.to_thread`,
  each worker thread with its own authorized `httplib2.Http` over the shared credentials.
- `api_endpoint` replaces the discovery document's whole base URL (rootUrl + servicePath), so the
  client gets `GOOGLE_API_ENDPOINT` + `calendar/v3/`; tests point it at a local server.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from domain.booking import Attendee, Booking, DayWindow, Slot
from integrations.calendar import slots
from integrations.calendar.base import CalendarError, CalendarUnavailable, SlotTaken
from integrations.calendar.lock import BookingLock

if TYPE_CHECKING:
    import asyncpg
    from google.auth.credentials import Credentials

    from core.config import Settings

__all__ = [
    "SCOPES", "GoogleCalendar", "api_base_url", "booking_from_event", "busy_from_freebusy",
    "error_reasons", "event_body", "event_id_for_key", "is_retryable", "load_credentials",
    "to_calendar_error",
]

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/calendar",)
RETRY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
"""403 reasons that mean "slow down", not "you may not"."""
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "usageLimits"})
"""403 reasons of a used-up quota: retrying within seconds will not help."""
SEND_UPDATES = "all"
ERASED_SUMMARY = "Call (erased on request)"
"""What an erased event still says (`GoogleCalendar.erase_attendee`): nothing of the lead."""


# --- Pure helpers: ids, payloads, responses, errors ------------------------------------------


def api_base_url(endpoint: str) -> str:
    """The Calendar v3 base URL under an API root such as `https://www.googleapis.com/`."""
    return endpoint.rstrip("/") + "/calendar/v3/"


def event_id_for_key(key: str) -> str:
    """A Google event id (base32hex: 0-9 and a-v, 5 to 1024 long) that is stable for `key`."""
    if not key:
        raise ValueError("an idempotency key must not be empty")
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def event_body(
    slot: Slot,
    *,
    event_id: str,
    attendee: Attendee,
    title: str,
    description: str,
    timezone: str,
    meet: bool,
) -> dict[str, Any]:
    """The events.insert body: the lead as attendee, their WhatsApp number in the description
    (the salesperson needs it) and in a private property, and a Meet request when `meet`."""
    if attendee.phone and attendee.phone not in description:
        description = f"{description}\n\nWhatsApp: {attendee.phone}".strip()
    body: dict[str, Any] = {
        "id": event_id,
        "summary": title,
        "description": description,
        "start": {"dateTime": _rfc3339(slot.start), "timeZone": timezone},
        "end": {"dateTime": _rfc3339(slot.end), "timeZone": timezone},
        "status": "confirmed",
        "extendedProperties": {"private": {"whatsapp": attendee.phone}},
        "reminders": {"useDefault": True},
    }
    if attendee.email:
        guest: dict[str, Any] = {"email": attendee.email}
        if attendee.name:
            guest["displayName"] = attendee.name
        body["attendees"] = [guest]
    if meet:
        body["conferenceData"] = {
            "createRequest": {
                "requestId": event_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    return body


def _time_patch(slot: Slot, timezone: str) -> dict[str, Any]:
    return {
        "start": {"dateTime": _rfc3339(slot.start), "timeZone": timezone},
        "end": {"dateTime": _rfc3339(slot.end), "timeZone": timezone},
    }


def booking_from_event(event: dict[str, Any]) -> Booking:
    """A `Booking` from an event resource; the link is the Meet link, else the event's page."""
    try:
        start = _parse_time(event["start"]["dateTime"])
        end = _parse_time(event["end"]["dateTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalendarError(
            f"Event {event.get('id')} has no start/end date-time; it was not booked by this agent."
        ) from exc
    return Booking(
        id=event["id"],
        start=start,
        end=end,
        calendar="google",
        link=event.get("hangoutLink") or event.get("htmlLink"),
        status="cancelled" if event.get("status") == "cancelled" else "confirmed",
    )


def busy_from_freebusy(
    response: dict[str, Any], calendar_ids: Sequence[str]
) -> list[slots.Interval]:
    """The busy intervals of a freeBusy.query response; a calendar with errors raises, since
    reading it as free could double-book."""
    intervals: list[slots.Interval] = []
    calendars = response.get("calendars", {})
    for calendar_id in calendar_ids:
        entry = calendars.get(calendar_id)
        if entry is None or entry.get("errors"):
            reasons = [e.get("reason", "?") for e in (entry or {}).get("errors", [])] or ["missing"]
            raise CalendarError(
                f"Google returned no free/busy for calendar {calendar_id!r} "
                f"({', '.join(reasons)}); check GOOGLE_CALENDAR_ID and that the calendar is "
                "shared with the service account."
            )
        for busy in entry.get("busy", []):
            intervals.append((_parse_time(busy["start"]), _parse_time(busy["end"])))
    return slots.merge_intervals(intervals)


def error_reasons(exc: HttpError) -> list[str]:
    """The `reason` of each entry of Google's error body (`error.errors[].reason`)."""
    try:
        data = json.loads(exc.content.decode("utf-8"))
        return [str(item["reason"]) for item in data["error"]["errors"] if "reason" in item]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _status(exc: HttpError) -> int:
    return int(exc.resp.status)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed call may succeed if repeated after a pause."""
    if isinstance(exc, HttpError):
        status = _status(exc)
        if status >= 500 or status == 429:
            return True
        return status == 403 and bool(RETRY_REASONS & set(error_reasons(exc)))
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return bool(exc.retryable)
    return isinstance(
        exc, (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError)
    )


def to_calendar_error(exc: BaseException) -> CalendarError:
    """The project's error for a vendor error (after retries, where they apply)."""
    if isinstance(exc, CalendarError):
        return exc
    if isinstance(exc, HttpError):
        status, reasons = _status(exc), set(error_reasons(exc))
        if is_retryable(exc):
            return CalendarUnavailable(
                f"Google Calendar kept failing ({status} {exc.reason}); try again later."
            )
        if status == 403 and reasons & QUOTA_REASONS:
            return CalendarUnavailable(
                f"The Google Calendar quota is used up ({', '.join(sorted(reasons))}); "
                "try again later or raise the quota in the Google Cloud console."
            )
        if status == 401:
            return CalendarError(
                "Google refused the service account's credentials (401); check "
                "GOOGLE_SERVICE_ACCOUNT_FILE and that the key is not revoked."
            )
        if status == 403 and "forbiddenForServiceAccounts" in reasons:
            return CalendarError(
                "A service account may not invite attendees without domain-wide delegation; set "
                "GOOGLE_DELEGATED_USER to a Workspace user who owns the calendar."
            )
        if status == 403:
            return CalendarError(
                f"Google forbids this on calendar ({exc.reason}); share GOOGLE_CALENDAR_ID with "
                "the service account (or the delegated user) with 'make changes to events'."
            )
        if status == 404:
            return CalendarError(
                "Google has no such calendar or event (404); check GOOGLE_CALENDAR_ID and the id."
            )
        return CalendarError(f"Google Calendar refused the request ({status} {exc.reason}).")
    if isinstance(exc, google.auth.exceptions.RefreshError):
        if exc.retryable:
            return CalendarUnavailable(
                "Google's token endpoint kept failing; try again later."
            )
        return CalendarError(
            f"Google refused to issue a token for the service account ({exc}); check "
            "GOOGLE_SERVICE_ACCOUNT_FILE and, with GOOGLE_DELEGATED_USER, the domain-wide "
            "delegation of the calendar scope."
        )
    if is_retryable(exc):
        return CalendarUnavailable(
            f"Google Calendar could not be reached ({type(exc).__name__}); try again later."
        )
    return CalendarError(f"Google Calendar call failed unexpectedly ({type(exc).__name__}: {exc}).")


def load_credentials(path: Path | str, *, subject: str | None = None) -> Credentials:
    """Service-account credentials for the calendar scope, impersonating `subject` if given."""
    try:
        credentials: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=list(SCOPES), subject=subject
        )
    except (OSError, ValueError, KeyError) as exc:
        raise CalendarError(
            f"Cannot read the service account key {str(path)!r} ({type(exc).__name__}); set "
            "GOOGLE_SERVICE_ACCOUNT_FILE to the JSON key downloaded from the Google Cloud console."
        ) from exc
    return credentials


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- The client ----------------------------------------------------------------------------


class GoogleCalendar:
    """The `Calendar` protocol over one Google calendar (plus extra ones read for free/busy)."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        calendar_id: str,
        rules: slots.SlotRules,
        api_endpoint: str = "https://www.googleapis.com/",
        busy_calendar_ids: Sequence[str] = (),
        meet_links: bool = False,
        attempts: int = 5,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 16.0,
        timeout_seconds: float = 30.0,
        clock: Callable[[], datetime] = _utcnow,
        lock: BookingLock | None = None,
    ) -> None:
        """`lock` serializes the bookings of the calendar across processes (the app always
        passes one; without it, only this process's own bookings are serialized)."""
        self._credentials = credentials
        self._calendar_id = calendar_id
        self._busy_ids = list(dict.fromkeys([calendar_id, *busy_calendar_ids]))
        self._rules = rules
        self._meet = meet_links
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._lock = lock
        self._process_lock = asyncio.Lock()
        self._local = threading.local()
        # Static discovery reads the document shipped with the library: no network here.
        self._service = build(
            "calendar",
            "v3",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api_base_url(api_endpoint)},
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: asyncpg.Pool | None = None, **overrides: Any
    ) -> GoogleCalendar:
        """The calendar of `GOOGLE_*`, `TIMEZONE` and the business-hours settings; bookings
        serialized through `pool` (see the module docstring)."""
        if settings.GOOGLE_SERVICE_ACCOUNT_FILE is None or not settings.GOOGLE_CALENDAR_ID:
            raise CalendarError(
                "Google Calendar needs GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_CALENDAR_ID."
            )
        values: dict[str, Any] = {
            "credentials": load_credentials(
                settings.GOOGLE_SERVICE_ACCOUNT_FILE, subject=settings.GOOGLE_DELEGATED_USER
            ),
            "calendar_id": settings.GOOGLE_CALENDAR_ID,
            "rules": slots.SlotRules.from_settings(settings),
            "api_endpoint": str(settings.GOOGLE_API_ENDPOINT),
            "meet_links": settings.GOOGLE_MEET_LINKS,
            "lock": BookingLock(pool, settings.GOOGLE_CALENDAR_ID) if pool is not None else None,
            **overrides,
        }
        return cls(**values)

    # --- the protocol ------------------------------------------------------------------------

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
        now = self._clock()
        start, end = slots.search_window(self._rules, after=after, now=now)
        busy = await self._busy(start, end)
        return slots.free_slots(
            self._rules, busy=busy, after=after, now=now, limit=limit, within=within,
            moving=moving.slot if moving is not None else None,
        )

    async def book(
        self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
    ) -> Booking:
        _check_slot(slot)
        event_id = event_id_for_key(key)
        existing = await self._get(event_id)
        if existing is not None and existing.get("status") != "cancelled":
            return booking_from_event(existing)  # a retry of a booking that went through
        body = event_body(
            slot, event_id=event_id, attendee=attendee, title=title, description=description,
            timezone=self._rules.timezone, meet=self._meet,
        )
        async with self._serialized():  # the check and the write, one booking at a time
            await self._ensure_free(slot)
            if existing is not None:  # this key's event was cancelled: book it again
                del body["id"]
                event = await self._patch(event_id, body)
                return booking_from_event(event)
            status, event = await self._call(
                lambda service: service.events().insert(
                    calendarId=self._calendar_id, body=body, sendUpdates=SEND_UPDATES,
                    conferenceDataVersion=1 if self._meet else 0,
                ),
                tolerate={409},
            )
        if status == 409:  # inserted by a racing or retried call with the same key
            found = await self._get(event_id)
            if found is None:
                raise CalendarError(
                    "Google says this booking's event exists but cannot find it; use a new key."
                )
            event = found
        log.info("booked google event %s", event_id)
        return booking_from_event(event)

    async def cancel(self, booking_id: str) -> None:
        status, _ = await self._call(
            lambda service: service.events().delete(
                calendarId=self._calendar_id, eventId=booking_id, sendUpdates=SEND_UPDATES
            ),
            tolerate={410},  # deleted already
        )
        log.info("cancelled google event %s (status %s)", booking_id, status)

    async def reschedule(self, booking_id: str, slot: Slot) -> Booking:
        _check_slot(slot)
        event = await self._get(booking_id)
        if event is None:
            raise CalendarError(f"There is no event {booking_id} in the calendar; check the id.")
        current = booking_from_event(event)
        if current.status == "cancelled":
            raise CalendarError(
                f"Event {booking_id} is cancelled; book a new call instead of moving it."
            )
        if current.start == slot.start and current.end == slot.end:
            return current
        async with self._serialized():
            await self._ensure_free(slot, ignore=(current.start, current.end))
            moved = await self._patch(booking_id, _time_patch(slot, self._rules.timezone))
        log.info("rescheduled google event %s", booking_id)
        return booking_from_event(moved)

    async def erase_attendee(self, phone: str) -> set[str]:
        emails: set[str] = set()
        events = await self._events_of(phone)
        for event in events:
            emails.update(a["email"] for a in event.get("attendees", []) if a.get("email"))
            await self._scrub(event)
        log.info("erased %d google event(s) of a lead on request", len(events))
        return emails

    # --- calls ------------------------------------------------------------------------------

    async def _events_of(self, phone: str) -> list[dict[str, Any]]:
        """Every event this agent booked with `phone` (by its private property), deleted too."""
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            _, page = await self._call(functools.partial(self._list_request, phone, token))
            events.extend(page.get("items", []))
            token = page.get("nextPageToken")
            if not token:
                return events

    def _list_request(self, phone: str, token: str | None, service: Any) -> Any:
        return service.events().list(
            calendarId=self._calendar_id, privateExtendedProperty=f"whatsapp={phone}",
            showDeleted=True, maxResults=250, pageToken=token,
        )

    async def _scrub(self, event: dict[str, Any]) -> None:
        """Replace the event with a bare one, then delete it (see the module docstring)."""
        event_id = event["id"]
        bare = {
            "start": event["start"], "end": event["end"], "summary": ERASED_SUMMARY,
            "status": event.get("status", "confirmed"),
        }
        await self._call(
            lambda service: service.events().update(
                calendarId=self._calendar_id, eventId=event_id, body=bare, sendUpdates="none"
            )
        )
        if event.get("status") != "cancelled":
            await self._call(
                lambda service: service.events().delete(
                    calendarId=self._calendar_id, eventId=event_id, sendUpdates="none"
                ),
                tolerate={410},
            )

    @asynccontextmanager
    async def _serialized(self) -> AsyncIterator[None]:
        """One check-and-write at a time for this calendar: across processes through Postgres
        (`BookingLock`), and within this process (which also spares a second pool connection)."""
        async with self._process_lock:
            if self._lock is None:
                yield
                return
            async with self._lock.held():
                yield

    async def _busy(self, start: datetime, end: datetime) -> list[slots.Interval]:
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": calendar_id} for calendar_id in self._busy_ids],
        }
        _, response = await self._call(lambda service: service.freebusy().query(body=body))
        return busy_from_freebusy(response, self._busy_ids)

    async def _ensure_free(
        self, slot: Slot, *, ignore: slots.Interval | None = None
    ) -> None:
        buffer = self._rules.buffer
        busy = await self._busy(slot.start - buffer, slot.end + buffer)
        if ignore is not None:
            busy = slots.subtract_interval(busy, ignore)
        if not slots.is_free(slot, busy, buffer=buffer):
            raise SlotTaken("That slot is no longer free; offer the lead other times.")

    async def _get(self, event_id: str) -> dict[str, Any] | None:
        status, event = await self._call(
            lambda service: service.events().get(calendarId=self._calendar_id, eventId=event_id),
            tolerate={404},
        )
        return None if status == 404 else event

    async def _patch(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _, event = await self._call(
            lambda service: service.events().patch(
                calendarId=self._calendar_id, eventId=event_id, body=body,
                sendUpdates=SEND_UPDATES, conferenceDataVersion=1 if self._meet else 0,
            )
        )
        return event

    async def _call(
        self, make: Callable[[Any], Any], *, tolerate: Collection[int] = ()
    ) -> tuple[int, dict[str, Any]]:
        """Run one API request in a thread, with the retry policy; returns `(200, body)`, or
        `(status, {})` for an HTTP error whose status the caller handles (`tolerate`)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(
                multiplier=self._backoff, max=self._max_backoff, jitter=self._backoff
            ),
            retry=retry_if_exception(is_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        result = await asyncio.to_thread(self._execute, make)
                    except HttpError as exc:
                        if _status(exc) in tolerate:
                            return _status(exc), {}
                        raise
                    return 200, result
        except Exception as exc:  # every vendor error becomes ours, here and only here
            error = to_calendar_error(exc)
            if error is not exc:
                log.warning("google calendar call failed: %s", error)
                raise error from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _execute(self, make: Callable[[Any], Any]) -> dict[str, Any]:
        http = getattr(self._local, "http", None)
        if http is None:
            http = google_auth_httplib2.AuthorizedHttp(
                self._credentials, http=httplib2.Http(timeout=self._timeout)
            )
            self._local.http = http
        result = make(self._service).execute(http=http, num_retries=0)
        return result if isinstance(result, dict) else {}


def _check_slot(slot: Slot) -> None:
    if slot.start.tzinfo is None or slot.end.tzinfo is None or slot.end <= slot.start:
        raise ValueError("a slot needs timezone-aware ends and a positive length")
