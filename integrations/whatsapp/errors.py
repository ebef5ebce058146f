"""Every error the WhatsApp channels raise, in one tree.

    ChannelError                    any failure of a WhatsApp channel
    ├── WebhookError                an inbound webhook request that must be refused
    │   ├── SignatureInvalid        forged, missing or stale signature (answer 403)
    │   └── PayloadMalformed        the body is not what the provider sends (answer 400)
    ├── ChannelNotConfigured        no client is registered for that channel name
    └── SendFailed                  an outbound call did not go through
        ├── ProviderUnavailable     5xx or no connection, still failing after the retries
        ├── RateLimited             429 or a rate-limit error code; `retry_after` when known
        ├── ChannelAuthError        the provider refused our credentials
        └── MessageRejected         the provider refused this message for good (4xx)
            ├── WindowClosed        the 24-hour customer service window has closed
            ├── RecipientInvalid    the recipient is not a reachable WhatsApp number
            └── MessageInvalid      the request itself is wrong (parameter, size, media)

Vendor errors are translated here, at the boundary, through lookup tables keyed by the provider's
error code (`META_ERRORS`, `TWILIO_ERRORS`); the clients raise the result `from` the original
exception. Messages are whole sentences that say what to do. They never hold a token, a signature,
a media URL or a full phone number: provider text is kept in `detail`, with long digit runs masked.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = [
    "META_ERRORS",
    "TWILIO_ERRORS",
    "ChannelAuthError",
    "ChannelError",
    "ChannelNotConfigured",
    "MessageInvalid",
    "MessageRejected",
    "PayloadMalformed",
    "ProviderUnavailable",
    "RateLimited",
    "RecipientInvalid",
    "SendFailed",
    "SignatureInvalid",
    "WebhookError",
    "WindowClosed",
    "error_for_status",
    "meta_error",
    "twilio_error",
]

Provider = Literal["twilio", "meta"]


class ChannelError(Exception):
    """Any failure of a WhatsApp channel (Twilio or Meta)."""


class WebhookError(ChannelError):
    """An inbound webhook request that must be refused."""


class SignatureInvalid(WebhookError):
    """The request's signature is missing, forged or does not match its body (answer 403)."""


class PayloadMalformed(WebhookError):
    """The webhook body is not what the provider sends (answer 400; nothing is buffered)."""


class ChannelNotConfigured(ChannelError):
    """No client is registered for the channel a message came from."""


class SendFailed(ChannelError):
    """An outbound call to the provider did not go through.

    `retryable` says whether trying the same call again later may succeed."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: Provider | None = None,
        status_code: int | None = None,
        code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.code = code
        """The provider's own error code (Meta `error.code`, Twilio `code`)."""
        self.detail = _redact(detail) if detail else None
        """The provider's explanation, with phone-number-like digit runs masked."""
        self.sent_ids: tuple[str, ...] = ()
        """Message ids of the parts of a split reply that the provider accepted before this."""


class ProviderUnavailable(SendFailed):
    """The provider answered 5xx or could not be reached, and kept failing through the retries."""

    retryable = True


class RateLimited(SendFailed):
    """The provider is throttling us (429 or a rate-limit code); wait `retry_after` seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ChannelAuthError(SendFailed):
    """The provider refused our credentials: check the access token / auth token and account."""


class MessageRejected(SendFailed):
    """The provider refused this message for good; sending it again will not help."""


class WindowClosed(MessageRejected):
    """The 24-hour customer service window has closed: only a template can reach the user."""


class RecipientInvalid(MessageRejected):
    """The recipient is not a reachable WhatsApp number (or not allowed on a test number)."""


class MessageInvalid(MessageRejected):
    """The request is wrong: a parameter, the text length or the media."""


ErrorClass = type[SendFailed]

# Meta Cloud API error codes -> our classes. Codes from Meta's "Error codes" reference; anything
# not listed falls back on the HTTP status (`error_for_status`).
META_ERRORS: dict[int, ErrorClass] = {
    0: ChannelAuthError,  # AuthException
    190: ChannelAuthError,  # access token expired or invalid
    10: ChannelAuthError,  # permission denied
    200: ChannelAuthError,  # API permission
    3: ChannelAuthError,  # API method not allowed for this app
    131005: ChannelAuthError,  # access denied
    4: RateLimited,  # too many API calls
    80007: RateLimited,  # WABA rate limit
    130429: RateLimited,  # Cloud API throughput reached
    131056: RateLimited,  # too many messages to one recipient in a short time
    1: ProviderUnavailable,  # unknown API error
    2: ProviderUnavailable,  # temporary service error
    131000: ProviderUnavailable,  # something went wrong
    131016: ProviderUnavailable,  # service overloaded
    131047: WindowClosed,  # re-engagement message: more than 24 h since the user's last message
    131026: RecipientInvalid,  # message undeliverable (not on WhatsApp, old client, ...)
    131030: RecipientInvalid,  # recipient not in the test number's allowed list
    131021: RecipientInvalid,  # recipient cannot be the sender
    100: MessageInvalid,  # invalid parameter
    131008: MessageInvalid,  # required parameter missing
    131009: MessageInvalid,  # parameter value not valid
    131051: MessageInvalid,  # unsupported message type
    131052: MessageInvalid,  # media download error
    131053: MessageInvalid,  # media upload error
    131048: MessageRejected,  # spam rate limit: messages were blocked as spam
    368: MessageRejected,  # temporarily blocked for policy violations
}

# Twilio REST API error codes -> our classes (Twilio's error dictionary).
TWILIO_ERRORS: dict[int, ErrorClass] = {
    20003: ChannelAuthError,  # authentication failed
    20005: ChannelAuthError,  # account not active
    20429: RateLimited,  # too many requests
    20500: ProviderUnavailable,  # internal server error
    20503: ProviderUnavailable,  # service unavailable
    63016: WindowClosed,  # free-form message outside the 24-hour window
    21211: RecipientInvalid,  # invalid 'To' number
    21614: RecipientInvalid,  # 'To' is not a valid mobile number
    63003: RecipientInvalid,  # channel could not find the 'To' address
    21610: MessageRejected,  # recipient unsubscribed (replied STOP)
    21617: MessageInvalid,  # body exceeds the 1,600-character limit
    21602: MessageInvalid,  # body required
    21620: MessageInvalid,  # invalid media URL
    21606: MessageInvalid,  # 'From' is not a valid number for this account
}

_SENTENCES: dict[ErrorClass, str] = {
    ProviderUnavailable: "{name} is unavailable; the message was not sent. Try again later.",
    RateLimited: "{name} is rate limiting us; the message was not sent. Send more slowly.",
    ChannelAuthError: (
        "{name} refused our credentials; check the access token or auth token in the settings."
    ),
    WindowClosed: (
        "The 24-hour window to reply to this contact has closed on {name}; "
        "only an approved template message can reach them now."
    ),
    RecipientInvalid: (
        "{name} cannot deliver to this recipient; check that it is a WhatsApp number."
    ),
    MessageInvalid: "{name} refused the message as invalid; check its text, length or media.",
    MessageRejected: "{name} refused the message for good; sending it again will not help.",
    SendFailed: "{name} did not accept the message.",
}

_NAMES: dict[str, str] = {"meta": "The Meta WhatsApp Cloud API", "twilio": "Twilio"}


def error_for_status(status_code: int) -> ErrorClass:
    """The error class of an HTTP status the provider answered without a known error code."""
    if status_code == 429:
        return RateLimited
    if status_code >= 500:
        return ProviderUnavailable
    if status_code in (401, 403):
        return ChannelAuthError
    return MessageRejected


def _build(
    cls: ErrorClass,
    provider: Provider,
    *,
    status_code: int | None,
    code: int | None,
    detail: str | None,
    retry_after: float | None = None,
) -> SendFailed:
    message = _SENTENCES.get(cls, _SENTENCES[SendFailed]).format(name=_NAMES[provider])
    if code is not None:
        message = f"{message} ({provider} error {code})"
    kwargs: dict[str, Any] = {
        "provider": provider, "status_code": status_code, "code": code, "detail": detail,
    }
    if issubclass(cls, RateLimited):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def _classify(table: dict[int, ErrorClass], status_code: int, code: int | None) -> ErrorClass:
    cls = table.get(code) if code is not None else None
    if cls is None:
        return error_for_status(status_code)
    if cls is not RateLimited and (status_code == 429 or status_code >= 500):
        return error_for_status(status_code)  # a transient HTTP status wins over the code
    return cls


def meta_error(status_code: int, body: Any, *, retry_after: float | None = None) -> SendFailed:
    """Translate a Graph API error response (`{"error": {"code": ..., ...}}`) into our error."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if type(error.get("code")) is int else None
    data = error.get("error_data")
    data = data if isinstance(data, dict) else {}
    detail = data.get("details") or error.get("message")
    return _build(
        _classify(META_ERRORS, status_code, code), "meta", status_code=status_code, code=code,
        detail=str(detail) if detail else None, retry_after=retry_after,
    )


def twilio_error(status_code: int, body: Any, *, retry_after: float | None = None) -> SendFailed:
    """Translate a Twilio REST error response (`{"code": ..., "message": ...}`) into our error."""
    body = body if isinstance(body, dict) else {}
    code = body.get("code") if type(body.get("code")) is int else None
    detail = body.get("message")
    return _build(
        _classify(TWILIO_ERRORS, status_code, code), "twilio", status_code=status_code, code=code,
        detail=str(detail) if detail else None, retry_after=retry_after,
    )


_DIGITS = re.compile(r"\+?\d[\d ()-]{5,}\d")


def _redact(text: str) -> str:
    """Mask phone-number-like digit runs in provider text (Twilio quotes the 'To' number)."""
    return _DIGITS.sub(lambda m: m.group(0)[:4] + "***" + m.group(0)[-2:], text)[:500]
