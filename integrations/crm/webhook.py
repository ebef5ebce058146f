"""Lead events POSTed to the team's own receivers (`CRM_WEBHOOK_URLS`), signed.

One small client over an injected `httpx.AsyncClient`. Each receiver is a destination of its own
(`destination_name`: the host and a hash of the URL, so logs, metrics and the console can name it
without showing a path or query that may hold a token); the outbox keeps one row per event and
receiver, so a receiver that is down holds up only its own events. Anything but a 2xx is a
failure and the outbox retries it with backoff: at-least-once, in order per lead, with the event
id in `X-Webhook-Id` for the receiver to deduplicate. Redirects are not followed (a 3xx is a
failure): a receiver that moved is a setting to change, not something to guess.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx

from integrations.crm.errors import UnknownDestination, WebhookRejected, WebhookUnreachable
from integrations.crm.signature import (
    ATTEMPT_HEADER,
    EVENT_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from integrations.leads.events import EventBody

__all__ = ["WebhookClient", "destination_name", "event_bytes"]

USER_AGENT = "wa-sales-agent-webhooks/1"


def destination_name(url: str) -> str:
    """`webhook:<host>:<10 hex of the URL's SHA-256>`: stable, readable, never the full URL."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"webhook:{urlsplit(url).hostname or 'unknown'}:{digest}"


def event_bytes(event: EventBody) -> bytes:
    """The body of a delivery: compact JSON, UTF-8."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookClient:
    """Delivers lead events to the configured receivers."""

    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        *,
        http: httpx.AsyncClient,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives the Unix time the signature carries (tests move it)."""
        self._urls = {destination_name(url): url for url in urls}
        self._secret = secret
        self._http = http
        self._timeout = timeout_seconds
        self._clock = clock

    @property
    def destinations(self) -> list[str]:
        return list(self._urls)

    async def deliver(self, destination: str, event: EventBody, *, attempt: int = 1) -> None:
        """POST the event to the receiver; raises a `WebhookFailed` unless it answers 2xx."""
        url = self._urls.get(destination)
        if url is None:
            raise UnknownDestination(
                f"{destination} is not in CRM_WEBHOOK_URLS; add it back or delete its rows"
            )
        body = event_bytes(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(self._secret, int(self._clock()), body),
            ID_HEADER: event["id"],
            EVENT_HEADER: event["type"],
            ATTEMPT_HEADER: str(attempt),
        }
        try:
            response = await self._http.post(
                url, content=body, headers=headers, timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(
                f"{destination} did not answer ({type(exc).__name__})"
            ) from exc
        if not response.is_success:
            raise WebhookRejected(
                f"{destination} answered {response.status_code}", status=response.status_code
            )
