"""The signature of outgoing lead-event webhooks: pure functions over the raw body.

In the style of Stripe's: the `X-Webhook-Signature` header is `t=<unix seconds>,v1=<hex>`, where
the hex is HMAC-SHA256, keyed with `CRM_WEBHOOK_SECRET`, of `<t>.<raw body>`. Signing the time
with the body lets a receiver refuse a replayed old request (`tolerance`), which GitHub's
body-only `X-Hub-Signature-256` cannot. Every attempt is signed anew (a new `t`); the body and the
event id (`X-Webhook-Id`) stay the same, for the receiver to deduplicate. The README shows a
receiver's check; `verify` is that check.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "ATTEMPT_HEADER",
    "EVENT_HEADER",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "sign",
    "signature_header",
    "verify",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
ID_HEADER = "X-Webhook-Id"
"""The event's id: the same on every retry."""
EVENT_HEADER = "X-Webhook-Event"
"""The event's type (`lead.created`...)."""
ATTEMPT_HEADER = "X-Webhook-Attempt"
"""1 on the first delivery, then 2, 3..."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300.0
) -> bool:
    """Whether `header` signs `body` with `secret`, at most `tolerance` seconds from `now`.

    Any `v1` entry may match (a sender rotating its secret sends one per secret)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
