"""Downloading the media a lead sent (voice notes, photos, videos, documents) from Twilio or Meta.

Twilio gives a media URL on its API host that needs HTTP basic auth with the account SID and auth
token and answers with a redirect to a short-lived signed URL on its CDN. Meta gives a media id:
a Graph API lookup (`GET /{media-id}`, bearer token) returns a short-lived URL, which is fetched
with the same bearer token. `MediaDownloader` does both through an injected `httpx.AsyncClient`.

Limits, because a lead can send anything: a type allow-list (checked on the type the provider
declared before any byte is fetched), a size limit (Meta's announced `file_size`, then
`Content-Length`, then the bytes actually counted while streaming, so an oversize file is never
read to its end), and a deadline per attempt. 5xx, 429 and connections that could not be made or
broke are retried with backoff (tenacity); a host that stalls past the deadline is not retried,
because the lead is waiting for the whole burst.

Secrets: media URLs carry signatures and the requests carry our credentials, so neither a URL nor
a token ever appears in a log line or an exception message (`MediaRef` has the URL in its repr:
never log a ref). Twilio credentials are sent only to the origin of `TWILIO_API_BASE`, never to a
URL a forged webhook could name; httpx drops the `Authorization` header on cross-origin redirects.

Errors, one tree:

    MediaError                  the media could not be used
    ├── MediaTooLarge           beyond the size limit (`size` when known, `limit`)
    ├── UnsupportedMediaType    a type outside the allow-list (`mime_type`)
    └── MediaDownloadFailed     the provider or the network failed (`retryable`, `status_code`)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

if TYPE_CHECKING:
    from integrations.whatsapp.types import MediaRef

__all__ = [
    "DEFAULT_ALLOWED_TYPES",
    "Media",
    "MediaDownloadFailed",
    "MediaDownloader",
    "MediaError",
    "MediaTooLarge",
    "UnsupportedMediaType",
    "mime_allowed",
    "normalize_mime",
]

logger = logging.getLogger(__name__)

DEFAULT_ALLOWED_TYPES = (
    "audio/", "video/", "image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/csv",
)
DEFAULT_TWILIO_API_BASE = "https://api.twilio.com"
DEFAULT_GRAPH_BASE = "https://graph.facebook.com/v21.0"


# --- Errors ------------------------------------------------------------------------------------


class MediaError(Exception):
    """The media a lead sent could not be used; the message says why, never where it lives."""


class MediaTooLarge(MediaError):
    """The file is larger than the configured limit (`MEDIA_MAX_BYTES`); it was not read whole."""

    def __init__(self, *, size: int | None, limit: int) -> None:
        shown = f"{size:,} bytes" if size is not None else "more bytes than allowed"
        super().__init__(
            f"The media has {shown}; the limit is {limit:,} bytes (MEDIA_MAX_BYTES). "
            "Ask the lead for a smaller file or raise the limit."
        )
        self.size = size
        """The announced size in bytes, or None when only the counted bytes crossed the limit."""
        self.limit = limit


class UnsupportedMediaType(MediaError):
    """The file's type is not in the allow-list (`MEDIA_ALLOWED_TYPES`)."""

    def __init__(self, mime_type: str | None) -> None:
        super().__init__(
            f"The media type {mime_type or 'unknown'!s} is not allowed; "
            "add it to MEDIA_ALLOWED_TYPES if it should be processed."
        )
        self.mime_type = mime_type


class MediaDownloadFailed(MediaError):
    """The provider or the network did not hand the file over.

    `retryable` says whether the same download may succeed later (5xx, 429, connection)."""

    def __init__(
        self, message: str, *, retryable: bool = False, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


# --- Types -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    """A downloaded file."""

    data: bytes = field(repr=False)
    mime_type: str
    """Without parameters, lower case (`audio/ogg`, not `audio/ogg; codecs=opus`)."""
    filename: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def normalize_mime(value: str | None) -> str | None:
    """`Audio/OGG; codecs=opus` -> `audio/ogg`; None for an empty value."""
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def mime_allowed(mime_type: str | None, allowed: Iterable[str]) -> bool:
    """Whether `mime_type` is in `allowed` (entries ending in "/" are prefixes: `audio/`)."""
    mime = normalize_mime(mime_type)
    if mime is None:
        return False
    for entry in allowed:
        entry = entry.strip().lower()
        if entry and (mime == entry or (entry.endswith("/") and mime.startswith(entry))):
            return True
    return False


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, f"{parts.hostname}:{parts.port or default_port}"


# --- Client ------------------------------------------------------------------------------------

_RETRYABLE_TRANSPORT = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ReadError,
    httpx.WriteError, httpx.RemoteProtocolError,
)


class MediaDownloader:
    """Downloads one attachment of an inbound message from its channel (see the module docstring).

    Credentials of a channel left unset make its downloads fail with `MediaDownloadFailed`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        max_bytes: int,
        timeout_seconds: float,
        allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
        twilio_account_sid: str | None = None,
        twilio_auth_token: str | None = None,
        twilio_api_base: str = DEFAULT_TWILIO_API_BASE,
        meta_access_token: str | None = None,
        meta_graph_base: str = DEFAULT_GRAPH_BASE,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        self._http = http
        self.max_bytes = max_bytes
        self._timeout = timeout_seconds
        self.allowed_types = tuple(t.strip().lower() for t in allowed_types if t.strip())
        self._twilio_auth = (
            httpx.BasicAuth(twilio_account_sid, twilio_auth_token)
            if twilio_account_sid and twilio_auth_token
            else None
        )
        self._twilio_origin = _origin(str(twilio_api_base))
        self._meta_token = meta_access_token or None
        self._graph_base = str(meta_graph_base).rstrip("/")
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds

    def __repr__(self) -> str:
        return f"MediaDownloader(max_bytes={self.max_bytes}, allowed_types={self.allowed_types})"

    def allows(self, mime_type: str | None) -> bool:
        """Whether a file of this type would be downloaded at all."""
        return mime_allowed(mime_type, self.allowed_types)

    async def download(self, channel: str, ref: MediaRef) -> Media:
        """The file `ref` points to, from `channel` ("twilio" or "meta").

        Raises `MediaTooLarge`, `UnsupportedMediaType` or `MediaDownloadFailed` (after retries)."""
        declared = normalize_mime(ref.mime_type)
        if declared is not None and not self.allows(declared):
            raise UnsupportedMediaType(declared)
        if channel == "twilio":
            call = self._twilio
        elif channel == "meta":
            call = self._meta
        else:
            raise MediaDownloadFailed(f"There is no media download for the channel {channel!r}.")
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=8) + wait_random(0, self._backoff),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, MediaDownloadFailed) and exc.retryable
            ),
            before_sleep=lambda state: logger.info(
                "media download from %s failed (attempt %d), retrying: %s",
                channel, state.attempt_number,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call(ref, declared)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    # --- Twilio ----------------------------------------------------------------------------

    async def _twilio(self, ref: MediaRef, declared: str | None) -> Media:
        if self._twilio_auth is None:
            raise MediaDownloadFailed(
                "Twilio media cannot be downloaded: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                "are not set."
            )
        if not ref.url:
            raise MediaDownloadFailed("The Twilio message announces media without a URL.")
        if _origin(ref.url) != self._twilio_origin:
            # Our credentials go to Twilio's API host only, whatever a webhook claims.
            raise MediaDownloadFailed(
                "The Twilio media URL is not on TWILIO_API_BASE's host; the credentials are not "
                "sent elsewhere. Check TWILIO_API_BASE."
            )
        return await self._fetch(
            ref.url, provider="Twilio", auth=self._twilio_auth, headers=None,
            mime_type=declared, filename=ref.filename,
        )

    # --- Meta ------------------------------------------------------------------------------

    async def _meta(self, ref: MediaRef, declared: str | None) -> Media:
        if self._meta_token is None:
            raise MediaDownloadFailed(
                "Meta media cannot be downloaded: META_ACCESS_TOKEN is not set."
            )
        if not ref.id:
            raise MediaDownloadFailed("The Meta message announces media without a media id.")
        headers = {"Authorization": f"Bearer {self._meta_token}"}
        lookup = await self._meta_lookup(ref.id, headers)
        url = lookup.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise MediaDownloadFailed(
                "The Graph API media lookup returned no download URL; check META_GRAPH_BASE."
            )
        mime = declared or normalize_mime(_str(lookup.get("mime_type")))
        if mime is not None and not self.allows(mime):
            raise UnsupportedMediaType(mime)
        size = lookup.get("file_size")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if isinstance(size, int) and size > self.max_bytes:
            raise MediaTooLarge(size=size, limit=self.max_bytes)
        return await self._fetch(
            url, provider="Meta", auth=None, headers=headers, mime_type=mime, filename=ref.filename
        )

    async def _meta_lookup(self, media_id: str, headers: dict[str, str]) -> dict[str, Any]:
        url = f"{self._graph_base}/{quote(media_id, safe='')}"
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._http.get(
                    url, headers=headers, timeout=self._timeout, follow_redirects=False
                )
        except (TimeoutError, httpx.HTTPError) as exc:
            raise _transport_error(exc, "the Graph API media lookup", self._timeout) from exc
        if not response.is_success:
            raise _status_error(response.status_code, "the Graph API media lookup")
        try:
            body = response.json()
        except ValueError as exc:
            raise MediaDownloadFailed(
                "The Graph API media lookup did not answer JSON; check META_GRAPH_BASE."
            ) from exc
        if not isinstance(body, dict):
            raise MediaDownloadFailed(
                "The Graph API media lookup answered an unexpected shape; check META_GRAPH_BASE."
            )
        return body

    # --- Both ------------------------------------------------------------------------------

    async def _fetch(
        self,
        url: str,
        *,
        provider: str,
        auth: httpx.Auth | None,
        headers: dict[str, str] | None,
        mime_type: str | None,
        filename: str | None,
    ) -> Media:
        """Stream the file at `url`, refusing it as soon as it is known to be too large."""
        what = f"the {provider} media download"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(
                    "GET", url, auth=auth, headers=headers, timeout=self._timeout,
                    follow_redirects=True,
                ) as response:
                    if not response.is_success:
                        raise _status_error(response.status_code, what)
                    mime = mime_type or normalize_mime(response.headers.get("content-type"))
                    if not self.allows(mime):
                        raise UnsupportedMediaType(mime)
                    length = response.headers.get("content-length", "")
                    if length.isdigit() and int(length) > self.max_bytes:
                        raise MediaTooLarge(size=int(length), limit=self.max_bytes)
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > self.max_bytes:
                            raise MediaTooLarge(size=None, limit=self.max_bytes)
        except MediaError:
            raise
        except (TimeoutError, httpx.HTTPError) as exc:
            raise _transport_error(exc, what, self._timeout) from exc
        assert mime is not None  # allows() refused None
        return Media(data=bytes(data), mime_type=mime, filename=filename)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _status_error(status: int, what: str) -> MediaDownloadFailed:
    """An HTTP error status as our error; never the URL (it carries a signature)."""
    if status in (401, 403):
        reason = "refused our credentials; check the access token or the Twilio auth token"
    elif status in (404, 410):
        reason = "does not have this media (any more): provider media expires"
    elif status == 429:
        reason = "is rate limiting us; try again later"
    elif status >= 500:
        reason = "is unavailable; try again later"
    else:
        reason = "refused the request"
    return MediaDownloadFailed(
        f"HTTP {status} from {what}: the provider {reason}.",
        retryable=status == 429 or status >= 500,
        status_code=status,
    )


def _transport_error(exc: Exception, what: str, timeout: float) -> MediaDownloadFailed:
    """A network failure as our error, with the exception type only (httpx may quote the URL)."""
    if isinstance(exc, _RETRYABLE_TRANSPORT):
        return MediaDownloadFailed(
            f"{what.capitalize()} could not connect or the connection broke "
            f"({type(exc).__name__}); try again later.",
            retryable=True,
        )
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return MediaDownloadFailed(
            f"{what.capitalize()} did not finish within {timeout:g} s "
            "(MEDIA_TIMEOUT_SECONDS); the host is too slow.",
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return MediaDownloadFailed(f"{what.capitalize()} redirected too many times.")
    return MediaDownloadFailed(f"{what.capitalize()} failed ({type(exc).__name__}).")
