"""The CRM clients' errors, drawn once:

    CrmError
    ├── WebhookFailed            a receiver did not take an event (retried with backoff)
    │   ├── WebhookRejected      it answered, but not with a 2xx
    │   └── WebhookUnreachable   no answer: refused, timed out, TLS
    ├── UnknownDestination       a row names a receiver this process does not have
    └── HubSpotError             HubSpot did not take an event (retried with backoff)
        ├── HubSpotRateLimited   429
        ├── HubSpotUnavailable   5xx, or no answer
        └── HubSpotRejected      another 4xx (a missing custom property, say)
    HubSpotUnauthorized          401 or 403: the outbox pauses HubSpot until restart
                                 (an `integrations.outbox.DeliveryPaused`, not retried)

Messages name the receiver by its destination name and never carry a URL, a token or a secret.
"""

from __future__ import annotations

from integrations.outbox import DeliveryPaused

__all__ = [
    "CrmError",
    "HubSpotError",
    "HubSpotRateLimited",
    "HubSpotRejected",
    "HubSpotUnauthorized",
    "HubSpotUnavailable",
    "UnknownDestination",
    "WebhookFailed",
    "WebhookRejected",
    "WebhookUnreachable",
]


class CrmError(Exception):
    """An event did not reach a CRM destination; the outbox retries it."""


class WebhookFailed(CrmError):
    """A webhook receiver did not take the event."""


class WebhookRejected(WebhookFailed):
    """The receiver answered with a status other than 2xx."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class WebhookUnreachable(WebhookFailed):
    """The receiver did not answer (connection refused, timeout, TLS)."""


class UnknownDestination(CrmError):
    """The row's receiver is not in this process's settings (CRM_WEBHOOK_URLS changed)."""


class HubSpotError(CrmError):
    """HubSpot did not take the event."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubSpotRateLimited(HubSpotError):
    """HubSpot answered 429 (too many requests)."""


class HubSpotUnavailable(HubSpotError):
    """HubSpot answered 5xx, or not at all."""


class HubSpotRejected(HubSpotError):
    """HubSpot refused the request (a 4xx other than 401, 403 and 429)."""


class HubSpotUnauthorized(DeliveryPaused):
    """HubSpot refused the access token (401) or its scopes (403): fix the setting and restart."""
