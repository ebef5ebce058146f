"""The console's defences that are not about people: signed cookie values, the sign-in rate
limit, and the headers every console response carries.

- Cookies hold `value.signature` (HMAC-SHA256 with `SESSION_SECRET`): a cookie the app did not
  set is refused before any database read.
- The rate limit counts sign-in attempts per client address and per email in Redis (a fixed
  window of `LOGIN_WINDOW_SECONDS`), so several web processes share one count.
- The Content-Security-Policy allows the app's own scripts, styles and images only: no inline
  script or style, no other origin, no framing. Charts are inline SVG with presentation
  attributes, which the policy allows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "ConsoleHeaders", "LoginLimiter", "sign", "unsign"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def _mac(secret: bytes, value: str) -> str:
    digest = hmac.new(secret, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: bytes, value: str) -> str:
    """`value` with its signature, for a cookie."""
    return f"{value}.{_mac(secret, value)}"


def unsign(secret: bytes, signed: str | None) -> str | None:
    """The value of a signed cookie, or None when it is missing or its signature is wrong."""
    if not signed:
        return None
    value, dot, signature = signed.rpartition(".")
    if not dot or not hmac.compare_digest(signature, _mac(secret, value)):
        return None
    return value


class LoginLimiter:
    """At most `max_attempts` sign-in attempts per key (client address, email) per window."""

    PREFIX = "console:login:"

    def __init__(self, redis: aioredis.Redis, *, max_attempts: int, window_seconds: int) -> None:
        self._redis = redis
        self.max_attempts = max_attempts
        self.window_seconds = window_seconds

    @staticmethod
    def _key(kind: str, value: str) -> str:
        # Hashed: the key names neither the address nor the email.
        return LoginLimiter.PREFIX + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]

    async def attempt(self, *, address: str, email: str) -> int | None:
        """Count one attempt; None when it may go ahead, else the seconds until it may."""
        keys = [self._key("addr", address), self._key("email", email.strip().lower())]
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                # The window starts with the first attempt (SET NX; INCR keeps the TTL). Not
                # EXPIRE NX: Redis 6 (the embedded one) lacks it.
                pipe.set(key, 0, ex=self.window_seconds, nx=True)
                pipe.incr(key)
                pipe.ttl(key)
            results = await pipe.execute()
        waits = [
            max(int(results[i + 2]), 1)
            for i in range(0, len(results), 3)
            if int(results[i + 1]) > self.max_attempts
        ]
        return max(waits) if waits else None

    async def forget(self, *, email: str) -> None:
        """A successful sign-in clears its email's count (not the address's)."""
        await self._redis.delete(self._key("email", email.strip().lower()))


class ConsoleHeaders:
    """ASGI middleware: the security headers (and `no-store`) on every response under
    `/console`; the webhooks and the APIs are left as they are."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/console") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        ours = path == self.prefix or path.startswith(self.prefix + "/")
        if scope["type"] != "http" or not ours:
            await self.app(scope, receive, send)
            return
        static = path.startswith(self.prefix + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
