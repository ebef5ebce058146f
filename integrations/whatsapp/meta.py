"""WhatsApp through the Meta Cloud API: webhook handshake, signature, parsing and Graph API client.

One webhook delivery may carry several entries, each with several changes, each with several
messages (and delivery `statuses`, which are ignored here). `parse_meta` reads every one into the
normalized `InboundMessage`, dispatching on the message `type` through a table; unknown keys are
ignored and unknown types become kind "unsupported", so a new Meta field or type never breaks
parsing. `verify_meta_signature`, `verify_challenge` and `parse_meta` are pure; `MetaClient` does
the I/O through an injected `aiohttp.ClientSession`: text, audio, reply buttons and list messages
(`interactive`, built by `integrations.whatsapp.interactive`), and approved templates by name and
language code (outside the 24-hour window). A tap on a button or a list row comes back as kind
"interactive" with the option's id as `payload`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from core.text import one_line
from domain.reply import Options
from integrations.whatsapp.errors import MessageInvalid, PayloadMalformed, SendFailed, meta_error
from integrations.whatsapp.formatting import (
    META_TEXT_LIMIT,
    reply_address,
    split_message,
    to_e164,
)
from integrations.whatsapp.interactive import layout, meta_interactive
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
    "MetaClient",
    "parse_meta",
    "verify_challenge",
    "verify_meta_signature",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
DEFAULT_GRAPH_BASE = "https://graph.facebook.com/v21.0"
# File name extensions for uploads, by the MIME types WhatsApp accepts for audio and images.
_EXTENSIONS = {
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac",
    "audio/amr": ".amr", "image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf",
}


# --- Handshake and signature -----------------------------------------------------------------


def verify_challenge(params: Mapping[str, str], verify_token: str | None) -> str | None:
    """The `hub.challenge` to echo when `hub.mode` is subscribe and `hub.verify_token` matches.

    None means refuse (403); an unset verify token refuses every handshake."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if not isinstance(given, str) or not isinstance(challenge, str) or not challenge:
        return None
    if not hmac.compare_digest(given.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge


def verify_meta_signature(app_secret: str, raw_body: bytes, header_value: str | None) -> bool:
    """Whether `header_value` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256 of the raw
    body with the app secret. Compare before parsing: the HMAC covers the exact bytes sent."""
    if not app_secret or not header_value or not isinstance(raw_body, bytes | bytearray):
        return False
    scheme, _, given = header_value.strip().partition("=")
    if f"{scheme.lower()}=" != SIGNATURE_PREFIX or not given:
        return False
    expected = hmac.new(app_secret.encode("utf-8"), bytes(raw_body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8"))


# --- Parsing ---------------------------------------------------------------------------------


def parse_meta(payload: Any) -> list[InboundMessage]:
    """Every message in a webhook delivery, in order; empty for status-only deliveries.

    Raises `PayloadMalformed` (and nothing else) when the envelope is not what Meta sends. One
    message that cannot be read (no sender or id, a bad timestamp or number: perhaps a shape Meta
    introduced since) is logged and skipped instead, so the rest of the delivery is not lost with
    it; refusing the delivery would not help, Meta would only send the same bytes again."""
    try:
        return list(_messages(payload))
    except PayloadMalformed:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, OSError) as exc:
        raise PayloadMalformed(
            f"The Meta webhook body is malformed ({type(exc).__name__}); "
            "it is not a delivery Meta sends."
        ) from exc


def _malformed(where: str, problem: str) -> PayloadMalformed:
    return PayloadMalformed(f"The Meta webhook body is malformed at {where}: {problem}.")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(where, "expected an object")
    return value


def _items(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _malformed(where, "expected a list")
    return value


def _text(value: Any) -> str | None:
    """A string field, or None when absent, empty or of another type (never an error); at most
    `MAX_TEXT_CHARS` long.

    NUL characters are dropped: Postgres refuses them in text and jsonb, so one would fail the
    contact's burst on every retry."""
    if not isinstance(value, str):
        return None
    value = value[:MAX_TEXT_CHARS].replace("\x00", "")
    return value if value.strip() else None


def _messages(payload: Any) -> list[InboundMessage]:
    body = _obj(payload, "the top level")
    if "entry" not in body:
        raise _malformed("the top level", "'entry' is missing")
    found: list[InboundMessage] = []
    for e, entry in enumerate(_items(body["entry"], "entry")):
        entry = _obj(entry, f"entry[{e}]")
        for c, change in enumerate(_items(entry.get("changes"), f"entry[{e}].changes")):
            where = f"entry[{e}].changes[{c}]"
            change = _obj(change, where)
            if change.get("field", "messages") != "messages":
                continue  # template, quality and account updates: not messages
            value = _obj(change.get("value"), f"{where}.value")
            names = _profile_names(_items(value.get("contacts"), f"{where}.value.contacts"))
            for m, message in enumerate(_items(value.get("messages"), f"{where}.value.messages")):
                at = f"{where}.value.messages[{m}]"
                try:
                    found.append(_message(_obj(message, at), names, at))
                except PayloadMalformed as exc:
                    logger.warning("meta webhook: skipped an unreadable message: %s", exc)
                except (ValueError, OverflowError, OSError) as exc:
                    # OSError: datetime.fromtimestamp of a huge 'timestamp' (EOVERFLOW).
                    logger.warning("meta webhook: skipped the message at %s (%s)", at,
                                   type(exc).__name__)
    return found


def _profile_names(contacts: list[Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in contacts:
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = _text(profile.get("name")) if isinstance(profile, dict) else None
        name = one_line(name, limit=MAX_NAME_CHARS) or None
        wa_id = _text(contact.get("wa_id"))
        if name and wa_id:
            names[wa_id] = name
    return names


def _message(message: dict[str, Any], names: dict[str, str], where: str) -> InboundMessage:
    sender = _text(message.get("from"))
    message_id = _text(message.get("id"))
    if sender is None or message_id is None:
        raise _malformed(where, "'from' or 'id' is missing")
    timestamp = message.get("timestamp")
    if not isinstance(timestamp, str | int) or not str(timestamp).strip().isdigit():
        raise _malformed(where, "'timestamp' is not a Unix time")
    message_type = _text(message.get("type")) or "unsupported"
    handler = _HANDLERS.get(message_type, _unsupported)
    fields = handler(message.get(message_type))
    context = message.get("context")
    reply_to = _text(context.get("id")) if isinstance(context, dict) else None
    fields.setdefault("reply_to", reply_to)
    contact = to_e164(sender, where=f"{where}.from")
    return InboundMessage(
        channel="meta",
        contact=contact,
        address=reply_address(sender, contact),
        message_id=message_id,
        timestamp=datetime.fromtimestamp(int(str(timestamp).strip()), UTC),
        profile_name=names.get(sender) or (next(iter(names.values())) if len(names) == 1 else None),
        raw=message,
        **fields,
    )


# Each handler reads the value under the message's `type` key into InboundMessage fields; a value
# of an unexpected shape reads as empty.
Handler = Callable[[Any], dict[str, Any]]


def _as_obj(content: Any) -> dict[str, Any]:
    return content if isinstance(content, dict) else {}


def _text_message(content: Any) -> dict[str, Any]:
    return {"kind": "text", "text": _text(_as_obj(content).get("body"))}


def _media(kind: MessageKind) -> Handler:
    def handle(content: Any) -> dict[str, Any]:
        content = _as_obj(content)
        ref = MediaRef(
            id=_text(content.get("id")),
            url=None,  # Meta's media URL needs the access token and expires: fetch by id
            mime_type=_text(content.get("mime_type")),
            filename=_text(content.get("filename")),
            voice=content.get("voice") is True,
        )
        return {"kind": kind, "text": _text(content.get("caption")), "media": (ref,)}

    return handle


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _location(content: Any) -> dict[str, Any]:
    content = _as_obj(content)
    latitude, longitude = _number(content.get("latitude")), _number(content.get("longitude"))
    location = None
    if latitude is not None and longitude is not None:
        location = Location(
            latitude=latitude, longitude=longitude,
            name=_text(content.get("name")), address=_text(content.get("address")),
        )
    return {"kind": "location", "location": location}


def _contacts(content: Any) -> dict[str, Any]:
    return {"kind": "contacts", "text": _contact_cards(content)}


def _contact_cards(cards: Any) -> str | None:
    """Shared contact cards as text, one line per card: `Name: +1 555..., mail@x (Org)`."""
    lines = []
    for card in cards if isinstance(cards, list) else ():
        if not isinstance(card, dict):
            continue
        name = _as_obj(card.get("name"))
        label = _text(name.get("formatted_name")) or " ".join(
            part for part in (_text(name.get("first_name")), _text(name.get("last_name"))) if part
        )
        details = [
            _text(item.get(key))
            for key, items in (("phone", card.get("phones")), ("email", card.get("emails")))
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict)
        ]
        org = _as_obj(card.get("org"))
        company = _text(org.get("company"))
        line = ", ".join(d for d in details if d)
        line = f"{label}: {line}" if label and line else (label or line)
        if company:
            line = f"{line} ({company})" if line else company
        if line:
            lines.append(line)
    return "\n".join(lines)[:MAX_TEXT_CHARS] or None


def _interactive(content: Any) -> dict[str, Any]:
    content = _as_obj(content)
    reply_type = _text(content.get("type")) or ""
    reply = content.get(reply_type)
    reply = reply if isinstance(reply, dict) else {}
    if reply_type in ("button_reply", "list_reply"):
        return {"kind": "interactive", "text": _text(reply.get("title")),
                "payload": _text(reply.get("id"))}
    if reply_type == "nfm_reply":  # a WhatsApp Flow was submitted
        return {"kind": "interactive", "text": _text(reply.get("body")),
                "payload": _text(reply.get("response_json"))}
    return {"kind": "interactive"}


def _button(content: Any) -> dict[str, Any]:
    content = _as_obj(content)
    return {"kind": "button", "text": _text(content.get("text")),
            "payload": _text(content.get("payload"))}


def _reaction(content: Any) -> dict[str, Any]:
    content = _as_obj(content)
    # An empty emoji means the contact removed their reaction: text None.
    return {"kind": "reaction", "text": _text(content.get("emoji")),
            "reply_to": _text(content.get("message_id"))}


def _unsupported(_: Any) -> dict[str, Any]:
    return {"kind": "unsupported"}


_HANDLERS: dict[str, Handler] = {
    "text": _text_message,
    "image": _media("image"),
    "video": _media("video"),
    "audio": _media("audio"),
    "document": _media("document"),
    "sticker": _media("sticker"),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "unsupported": _unsupported,
}


# --- Client ----------------------------------------------------------------------------------


class MetaClient:
    """Sends WhatsApp messages through the Graph API of one business phone number."""

    channel = "meta"
    text_limit = META_TEXT_LIMIT

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        *,
        graph_base: str = DEFAULT_GRAPH_BASE,
        http: aiohttp.ClientSession,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._phone_number_id = phone_number_id
        self._headers = {"Authorization": f"Bearer {access_token}"}
        base = str(graph_base).rstrip("/")
        self._messages_url = f"{base}/{phone_number_id}/messages"
        self._media_url = f"{base}/{phone_number_id}/media"
        self._http = http
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"MetaClient(phone_number_id={self._phone_number_id!r})"

    async def send_text(self, to: str, text: str) -> list[str]:
        """Send `text` to the E.164 number `to` in parts of at most 4,096 characters, in order."""
        bodies = [
            {"type": "text", "text": {"preview_url": False, "body": part}}
            for part in split_message(text, self.text_limit)
        ]
        return await self._send_parts(to, bodies)

    async def send_audio(self, to: str, media_id: str) -> list[str]:
        """Send an uploaded audio (see `upload_media`) as a message; its message id, in a list
        like every send."""
        return await self._send_parts(to, [{"type": "audio", "audio": {"id": media_id}}])

    async def send_interactive(self, to: str, body: str, options: Options) -> list[str]:
        """Send `body` with `options` as reply buttons or a list message (`layout`); its
        message id, in a list."""
        shape = layout(body, options)
        if shape is None:
            raise MessageInvalid(
                "These options fit neither WhatsApp's buttons nor its list; send the text.",
                provider="meta",
            )
        interactive = meta_interactive(body, options, shape)
        return await self._send_parts(to, [{"type": "interactive", "interactive": interactive}])

    async def send_template(self, to: str, template: TemplateMessage) -> list[str]:
        """Send an approved template message (by name and language code) with its variables
        as the body's parameters."""
        if CONTENT_SID.match(template.ref):
            raise MessageInvalid(
                f"The {template.purpose} template for Meta must be a template name, not a Twilio "
                "Content SID; set it in the TEMPLATE_* settings.",
                provider="meta",
            )
        content: dict[str, Any] = {"name": template.ref, "language": {"code": template.language}}
        if template.variables:
            content["components"] = [{
                "type": "body",
                "parameters": [{"type": "text", "text": value} for value in template.variables],
            }]
        return await self._send_parts(to, [{"type": "template", "template": content}])

    async def mark_read_and_typing(self, message_id: str) -> None:
        """Show the contact `message_id` (and all before it) as read, with a typing indicator.

        The indicator lasts until the reply is sent or 25 seconds pass."""
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }
        await with_retry(self._retry, lambda: self._call("POST", self._messages_url, json=body))

    async def upload_media(
        self, data: bytes, mime_type: str, *, filename: str | None = None
    ) -> str:
        """Upload a file to Meta (for a voice reply); the media id to send it by."""
        if filename is None:
            base_type = mime_type.split(";")[0].strip()
            filename = "upload" + _EXTENSIONS.get(base_type, "")

        def form() -> aiohttp.FormData:  # a fresh body for every attempt
            fields = aiohttp.FormData()
            fields.add_field("messaging_product", "whatsapp")
            fields.add_field("type", mime_type)
            fields.add_field("file", data, filename=filename, content_type=mime_type)
            return fields

        answer = await with_retry(
            self._retry, lambda: self._call("POST", self._media_url, data=form())
        )
        media_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(media_id, str):
            raise SendFailed(
                "Meta accepted the upload but its answer has no media id; check META_GRAPH_BASE.",
                provider="meta",
            )
        return media_id

    async def _send_parts(self, to: str, bodies: list[dict[str, Any]]) -> list[str]:
        calls = [
            self._send_one({"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": to, **body})
            for body in bodies
        ]
        return await send_in_order(self._retry, calls, channel="meta", to=to)

    def _send_one(self, payload: dict[str, Any]) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            answer = await self._call("POST", self._messages_url, json=payload)
            messages = answer.get("messages") if isinstance(answer, dict) else None
            first = messages[0] if isinstance(messages, list) and messages else None
            message_id = first.get("id") if isinstance(first, dict) else None
            if not isinstance(message_id, str):
                raise SendFailed(
                    "Meta accepted the message but its answer has no message id; "
                    "check META_GRAPH_BASE.",
                    provider="meta",
                )
            return message_id

        return call

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        return await request_json(
            self._http, method, url, provider="meta", translate=meta_error,
            headers=self._headers, **kwargs,
        )
