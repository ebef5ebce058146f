"""The one normalized inbound message: the pipeline and the graph never see a vendor's payload.

Messages are stored in the Redis burst buffer as JSON (`to_json` / `from_json`), so every field is
a plain value. The raw provider payload is kept for the transcript and debugging, never logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_TEXT_CHARS",
    "Channel",
    "InboundMessage",
    "Location",
    "MediaRef",
    "MessageKind",
]

MAX_TEXT_CHARS = 4096
"""WhatsApp's own limit of one message's text: the parsers cut any text field of a payload here,
so everything downstream (buffer, prompts, the fallback's parsers) works on bounded input."""
MAX_NAME_CHARS = 120
"""A profile name is kept on one line and at most this long: the lead chooses it."""

Channel = Literal["twilio", "meta"]
MessageKind = Literal[
    "text", "audio", "image", "video", "document", "sticker", "location", "contacts",
    "interactive", "button", "reaction", "unsupported",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRef:
    """Where to fetch one attachment: a Meta media id or a Twilio media URL (never logged)."""

    id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    voice: bool = False
    """A recorded voice note (as opposed to a forwarded audio file)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """One message a contact sent, whatever the channel."""

    channel: Channel
    contact: str
    """The contact's canonical number in E.164 (`+5491123456789`): one contact per person."""
    message_id: str
    """The provider's message id (Twilio MessageSid, Meta wamid): the dedup key."""
    timestamp: datetime
    kind: MessageKind
    text: str | None = None
    """The body, caption, button/list reply title, reaction emoji or contact card as text."""
    profile_name: str | None = None
    """The WhatsApp profile name the lead chose: one line, at most `MAX_NAME_CHARS`."""
    media: tuple[MediaRef, ...] = ()
    location: Location | None = None
    reply_to: str | None = None
    """The id of the message this one answers or reacts to, when the provider says."""
    payload: str | None = None
    """A button or list reply's machine payload/id."""
    address: str | None = None
    """Where replies go when the provider wrote the sender otherwise than `contact` (a Mexican
    mobile's `+521...` form, exactly as given); None: `contact` itself."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def recipient(self) -> str:
        """The number replies to this message are sent to."""
        return self.address or self.contact

    @property
    def thread_id(self) -> str:
        """The conversation this message belongs to: `<channel>:<E.164 number>`."""
        return f"{self.channel}:{self.contact}"

    def to_json(self) -> str:
        # Shallow on purpose: `asdict` deep-copies `raw`, a cost paid on every webhook.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["timestamp"] = self.timestamp.isoformat()
        data["media"] = [asdict(ref) for ref in self.media]
        data["location"] = asdict(self.location) if self.location else None
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> InboundMessage:
        data = json.loads(text)
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
        data["media"] = tuple(MediaRef(**item) for item in data.get("media") or ())
        if data.get("location"):
            data["location"] = Location(**data["location"])
        return cls(**data)
