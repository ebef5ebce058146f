"""WhatsApp through Twilio: webhook signature, webhook parsing and the Messages API client.

Twilio posts a form (`application/x-www-form-urlencoded`) per inbound message and per status
change of an outbound one. `verify_twilio_signature` and `parse_twilio` are pure; `TwilioClient`
does the I/O through an injected `aiohttp.ClientSession`.

Buttons and lists go out as Content API templates (`twilio/quick-reply`, `twilio/list-picker`),
sent by `ContentSid` with the message's texts as `ContentVariables`. The client creates each
template through the Content API the first time its shape is needed and caches its SID by the
template's definition (`integrations.whatsapp.contents`); approved templates (outside the 24-hour
window) are sent by their own SID (`send_template`).

The signature covers the full URL Twilio called. Behind a proxy the app sees its own host, so the
URL to check is rebuilt on `PUBLIC_BASE_URL` (`signed_url`), never taken from the Host header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.request_validator import RequestValidator

from core.text import one_line
from domain.reply import Options
from integrations.whatsapp.contents import ContentCache, MemoryContentCache
from integrations.whatsapp.errors import (
    MessageInvalid,
    PayloadMalformed,
    SendFailed,
    twilio_error,
)
from integrations.whatsapp.formatting import (
    TWILIO_TEXT_LIMIT,
    reply_address,
    split_message,
    to_e164,
)
from integrations.whatsapp.interactive import layout, twilio_content
from integrations.whatsapp.sender import RetryPolicy, request_json, send_in_order, with_retry
from integrations.whatsapp.templates import CONTENT_SID, TemplateMessage
from integrations.whatsapp.types import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    InboundMessage,
    Location,
    MediaRef,
    MessageKind,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TwilioClient",
    "is_status_callback",
    "parse_twilio",
    "signed_url",
    "verify_twilio_signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_CONTENT_API_BASE = "https://content.twilio.com"
MAX_MEDIA = 10  # Twilio sends at most ten attachments per message


# --- Signature -------------------------------------------------------------------------------


def verify_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Whether `signature` (the `X-Twilio-Signature` header) is Twilio's for this URL and form.

    `url` is the full URL Twilio requested, query included (see `signed_url`); an empty token or
    signature never verifies."""
    if not auth_token or not signature:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
    except (TypeError, ValueError, UnicodeError):
        return False


def signed_url(request_url: str, public_base_url: str | None) -> str:
    """The URL Twilio signed: the request's path and query on `PUBLIC_BASE_URL` when it is set.

    A path in `PUBLIC_BASE_URL` (`https://example.com/bot`) is a prefix the proxy strips; it is
    put back unless the request path already carries it."""
    if not public_base_url:
        return request_url
    base = urlsplit(str(public_base_url))
    request = urlsplit(request_url)
    prefix = base.path.rstrip("/")
    path = request.path
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        path = prefix + path
    return urlunsplit((base.scheme, base.netloc, path, request.query, ""))


# --- Parsing ---------------------------------------------------------------------------------

# Twilio's `MessageType` for WhatsApp -> our kind. Unknown values fall back on the content.
_KINDS: dict[str, MessageKind] = {
    "text": "text",
    "image": "image",
    "audio": "audio",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "contacts": "contacts",
    "button": "button",
    "interactive": "interactive",
    "reaction": "reaction",
}
# The major MIME type of the first attachment -> our kind, when MessageType is absent.
_MEDIA_KINDS: dict[str, MessageKind] = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "application": "document",
    "text": "document",
}


def is_status_callback(form: Mapping[str, str]) -> bool:
    """A delivery status of one of our messages (sent, delivered, read, failed), not a message."""
    return "MessageStatus" in form and "Body" not in form and "NumMedia" not in form


def parse_twilio(
    form: Mapping[str, str], *, received_at: datetime | None = None
) -> list[InboundMessage]:
    """The inbound message in a Twilio webhook form; empty for a status callback.

    Twilio's form carries no send time, so `received_at` (default: now, UTC) is the timestamp.
    Raises `PayloadMalformed` when the form is not one Twilio sends."""
    if not isinstance(form, Mapping):
        raise PayloadMalformed("The Twilio webhook body is not a form; expected key=value pairs.")
    try:
        if is_status_callback(form):
            return []
        return [_parse(form, received_at or datetime.now(UTC))]
    except PayloadMalformed:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise PayloadMalformed(
            f"The Twilio webhook form is malformed ({type(exc).__name__}); "
            "it is not a message Twilio sends."
        ) from exc


def _field(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadMalformed(f"The Twilio webhook field {name} is not text.")
    # NUL characters are dropped: Postgres refuses them, so one would fail every retry.
    return value[:MAX_TEXT_CHARS].replace("\x00", "").strip() or None


def _required(form: Mapping[str, str], name: str) -> str:
    value = _field(form, name)
    if value is None:
        raise PayloadMalformed(f"The Twilio webhook form has no {name}; it is not a message.")
    return value


def _parse(form: Mapping[str, str], received_at: datetime) -> InboundMessage:
    sender = _required(form, "From").removeprefix(WHATSAPP_PREFIX)
    contact = to_e164(sender, where="Twilio webhook field From")
    message_id = _required(form, "MessageSid")
    media = _media(form)
    location = _location(form)
    body = _field(form, "Body")
    button_text, button_payload = _field(form, "ButtonText"), _field(form, "ButtonPayload")
    list_title, list_id = _field(form, "ListTitle"), _field(form, "ListId")

    kind = _KINDS.get((_field(form, "MessageType") or "").lower())
    if kind is None:
        if button_payload or button_text:
            kind = "button"
        elif list_id:
            kind = "interactive"
        elif location:
            kind = "location"
        elif media:
            major = (media[0].mime_type or "").partition("/")[0]
            kind = _MEDIA_KINDS.get(major, "document")
        elif body:
            kind = "text"
        else:
            kind = "unsupported"

    text, payload = body, None
    if button_payload or button_text:
        text, payload = button_text or body, button_payload
    elif list_id or list_title:
        text, payload = list_title or body, list_id
    return InboundMessage(
        channel="twilio",
        contact=contact,
        address=reply_address(sender, contact),
        message_id=message_id,
        timestamp=received_at,
        kind=kind,
        text=text,
        profile_name=one_line(_field(form, "ProfileName"), limit=MAX_NAME_CHARS) or None,
        media=media,
        location=location,
        reply_to=_field(form, "OriginalRepliedMessageSid"),
        payload=payload,
        raw=dict(form),
    )


def _media(form: Mapping[str, str]) -> tuple[MediaRef, ...]:
    count_text = _field(form, "NumMedia") or "0"
    if not count_text.isdigit() or int(count_text) > MAX_MEDIA:
        raise PayloadMalformed("The Twilio webhook field NumMedia is not a count from 0 to 10.")
    refs = []
    for index in range(int(count_text)):
        url = _field(form, f"MediaUrl{index}")
        if url is None or urlsplit(url).scheme not in ("http", "https"):
            raise PayloadMalformed(
                f"The Twilio webhook announces {count_text} media but MediaUrl{index} is "
                "missing or not an http(s) URL."
            )
        refs.append(MediaRef(url=url, mime_type=_field(form, f"MediaContentType{index}")))
    return tuple(refs)


def _location(form: Mapping[str, str]) -> Location | None:
    latitude, longitude = _field(form, "Latitude"), _field(form, "Longitude")
    if latitude is None and longitude is None:
        return None
    try:
        lat, lon = float(latitude or "nan"), float(longitude or "nan")
    except ValueError as exc:
        raise PayloadMalformed("The Twilio webhook Latitude/Longitude are not numbers.") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PayloadMalformed("The Twilio webhook Latitude/Longitude are out of range or missing.")
    return Location(
        latitude=lat, longitude=lon, name=_field(form, "Label"), address=_field(form, "Address")
    )


# --- Client ----------------------------------------------------------------------------------


def _whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP_PREFIX) else f"{WHATSAPP_PREFIX}{number}"


class TwilioClient:
    """Sends WhatsApp messages through Twilio's Messages API (form-encoded, basic auth)."""

    channel = "twilio"
    text_limit = TWILIO_TEXT_LIMIT

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        content_api_base: str = DEFAULT_CONTENT_API_BASE,
        http: aiohttp.ClientSession,
        retry: RetryPolicy | None = None,
        contents: ContentCache | None = None,
    ) -> None:
        self._account_sid = account_sid
        self._headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._from = _whatsapp_address(from_number)
        self._url = f"{str(api_base).rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._content_url = f"{str(content_api_base).rstrip('/')}/v1/Content"
        self._http = http
        self._retry = retry or RetryPolicy()
        self._contents: ContentCache = contents or MemoryContentCache()
        self._sids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"TwilioClient(account_sid={self._account_sid!r})"

    async def send_text(self, to: str, text: str) -> list[str]:
        """Send `text` to the E.164 number `to` in parts of at most 1,600 characters, in order."""
        parts = split_message(text, self.text_limit)
        return await self._send_parts(to, [{"Body": part} for part in parts])

    async def send_media(self, to: str, url: str, caption: str | None = None) -> list[str]:
        """Send the media at `url` (public, fetched by Twilio) with an optional caption.

        A caption longer than one message goes out as text parts after the media."""
        parts = split_message(caption or "", self.text_limit)
        first: dict[str, str] = {"MediaUrl": url}
        if parts:
            first["Body"] = parts[0]
        return await self._send_parts(to, [first, *({"Body": part} for part in parts[1:])])

    async def send_interactive(self, to: str, body: str, options: Options) -> list[str]:
        """Send `body` with `options` as quick-reply buttons or a list picker (`layout`), through
        the content template of its shape (created on first use); its message id, in a list."""
        shape = layout(body, options)
        if shape is None:
            raise MessageInvalid(
                "These options fit neither WhatsApp's buttons nor its list; send the text.",
                provider="twilio",
            )
        types, values = twilio_content(body, options, shape)
        sid = await self._content_sid(types)
        form = {"ContentSid": sid, "ContentVariables": json.dumps(values, ensure_ascii=False)}
        return await self._send_parts(to, [form])

    async def send_template(self, to: str, template: TemplateMessage) -> list[str]:
        """Send an approved template (`template.ref`: its Content SID) with its variables."""
        if not CONTENT_SID.match(template.ref):
            raise MessageInvalid(
                f"The {template.purpose} template for Twilio must be a Content SID (HX...); "
                "set it in the TEMPLATE_* settings.",
                provider="twilio",
            )
        form = {"ContentSid": template.ref}
        if template.variables:
            values = {str(n): value for n, value in enumerate(template.variables, 1)}
            form["ContentVariables"] = json.dumps(values, ensure_ascii=False)
        return await self._send_parts(to, [form])

    async def _content_sid(self, types: dict[str, Any]) -> str:
        """The SID of the content template with `types`: from memory, the shared cache, or
        created now (and cached)."""
        definition = json.dumps(types, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(definition.encode()).hexdigest()
        sid = self._sids.get(key) or await self._contents.get(key)
        if sid is None:
            sid = await self._contents.put(key, await self._create_content(key, types))
        self._sids[key] = sid
        return sid

    async def _create_content(self, key: str, types: dict[str, Any]) -> str:
        (kind,) = types
        body = {
            "friendly_name": f"wa_sales_{kind.rpartition('/')[2].replace('-', '_')}_{key[:12]}",
            "language": "en",
            "types": types,
        }
        answer = await with_retry(self._retry, lambda: request_json(
            self._http, "POST", self._content_url, provider="twilio", translate=twilio_error,
            json=body, headers=self._headers,
        ))
        sid = answer.get("sid") if isinstance(answer, dict) else None
        if not isinstance(sid, str):
            raise SendFailed(
                "Twilio created the content but its answer has no sid; "
                "check TWILIO_CONTENT_API_BASE.",
                provider="twilio",
            )
        return sid

    async def _send_parts(self, to: str, forms: list[dict[str, str]]) -> list[str]:
        calls = [self._post({"From": self._from, "To": _whatsapp_address(to), **form})
                 for form in forms]
        return await send_in_order(self._retry, calls, channel="twilio", to=to)

    def _post(self, data: dict[str, str]) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            body = await request_json(
                self._http, "POST", self._url, provider="twilio", translate=twilio_error,
                data=data, headers=self._headers,
            )
            sid = body.get("sid") if isinstance(body, dict) else None
            if not isinstance(sid, str):
                raise SendFailed(
                    "Twilio accepted the message but its answer has no sid; check TWILIO_API_BASE.",
                    provider="twilio",
                )
            return sid

        return call
