"""Voice replies: a lead who speaks to us also hears the answer, when `VOICE_REPLIES` is on.

After the text reply went out, `VoiceReplier.maybe_send_voice` synthesizes the same text
(`integrations.speech`, Ogg/Opus) and sends it as an audio message, the way each provider wants it:

- Meta: upload the bytes to the Graph API (`upload_media`), then send an audio message with the
  returned media id (`send_audio`).
- Twilio: Twilio fetches media from a public URL. The audio is kept in Redis under a random,
  unguessable id (`secrets.token_urlsafe`, 192 bits) with a short TTL, and its URL
  `PUBLIC_BASE_URL/media/<id>.ogg` (served by `api.media`) goes out with `send_media`. Redis, not
  the local disk, so that any web process behind the load balancer can serve it.

The voice message is an extra: the text is already delivered. So it is best effort, never raises,
and a failure (speech server, provider, Redis) is logged and reported as False; raising would make
the processor retry the burst and send the text twice.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prometheus_client import Counter

from core.logs import mask_phone
from integrations.speech import MAX_SPEECH_CHARS
from pipeline.media import is_voice_note

if TYPE_CHECKING:
    from collections.abc import Iterable

    import redis.asyncio as aioredis

    from integrations.speech import Speech
    from integrations.whatsapp.types import InboundMessage

__all__ = [
    "AUDIO_MIME_TYPE",
    "VOICE_REPLIES",
    "AudioStore",
    "AudioUploader",
    "MediaUrlSender",
    "VoiceReplier",
    "burst_had_voice",
    "speakable",
]

logger = logging.getLogger(__name__)

AUDIO_MIME_TYPE = "audio/ogg"
AUDIO_TTL_SECONDS = 900
"""Long enough for Twilio to fetch the file (and retry), short enough not to keep voices around."""

VOICE_REPLIES = Counter(
    "wa_voice_replies_total", "Voice replies, by channel and outcome.", ["channel", "outcome"]
)


@runtime_checkable
class AudioUploader(Protocol):
    """A channel that uploads media and sends it by id (`integrations.whatsapp.meta.MetaClient`)."""

    async def upload_media(self, data: bytes, mime_type: str, *, filename: str = ...) -> str: ...

    async def send_audio(self, to: str, media_id: str) -> object: ...


@runtime_checkable
class MediaUrlSender(Protocol):
    """A channel that sends media from a public URL (`integrations.whatsapp.twilio`)."""

    async def send_media(self, to: str, url: str, caption: str | None = None) -> list[str]: ...


class ChannelLookup(Protocol):
    """Channel name -> client (`integrations.whatsapp.sender.Channels`)."""

    def __contains__(self, channel: object) -> bool: ...

    def get(self, channel: str) -> object: ...


def burst_had_voice(messages: Iterable[InboundMessage]) -> bool:
    """Whether the lead sent a voice note in these messages (the trigger for a voice reply)."""
    return any(is_voice_note(message) for message in messages)


_MARKUP = re.compile(r"(?<!\w)[*_~]+|[*_~]+(?!\w)|`+")


def speakable(text: str) -> str:
    """The reply without WhatsApp markup (`*bold*`, `_italic_`, code fences), for speech."""
    text = _MARKUP.sub("", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = text.strip()
    if len(text) > MAX_SPEECH_CHARS:
        cut = max(text.rfind(". ", 0, MAX_SPEECH_CHARS), text.rfind("\n", 0, MAX_SPEECH_CHARS))
        text = text[: cut + 1 if cut > 0 else MAX_SPEECH_CHARS].rstrip()
    return text


# --- Audio for Twilio ----------------------------------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


class AudioStore:
    """Synthesized replies in Redis, by random id, until Twilio has fetched them."""

    KEY = "voice:audio:{id}"

    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int = AUDIO_TTL_SECONDS) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds

    async def put(self, data: bytes) -> str:
        """Keep `data` for `ttl_seconds`; the id for its URL."""
        audio_id = secrets.token_urlsafe(24)
        await self._redis.set(self.KEY.format(id=audio_id), data, ex=self.ttl_seconds)
        return audio_id

    async def get(self, audio_id: str) -> bytes | None:
        """The audio, or None when the id is malformed, unknown or expired."""
        if not _ID.match(audio_id):
            return None
        data = await self._redis.get(self.KEY.format(id=audio_id))
        if data is None:
            return None
        if not isinstance(data, bytes):
            raise TypeError("AudioStore needs a Redis client with decode_responses=False.")
        return data


def audio_url(public_base_url: str, audio_id: str) -> str:
    """Where `api.media` serves the audio `audio_id` (`PUBLIC_BASE_URL/media/<id>.ogg`)."""
    return f"{str(public_base_url).rstrip('/')}/media/{audio_id}.ogg"


# --- The replier -------------------------------------------------------------------------------


class VoiceReplier:
    """Sends the reply as a voice message too (see the module docstring)."""

    def __init__(
        self,
        speech: Speech | None,
        *,
        channels: ChannelLookup,
        enabled: bool,
        store: AudioStore | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.speech = speech
        self.channels = channels
        self.enabled = enabled and speech is not None
        self.store = store
        self.public_base_url = str(public_base_url) if public_base_url else None

    async def maybe_send_voice(
        self, channel: str, to: str, text: str, burst_had_voice: bool
    ) -> bool:
        """Send `text` as audio to `to` when voice replies are on and the lead sent a voice note.

        True when the audio went out; never raises."""
        if not (self.enabled and burst_had_voice) or self.speech is None:
            return False
        spoken = speakable(text)
        if not spoken or channel not in self.channels:
            return False
        who = mask_phone(to)
        try:
            client = self.channels.get(channel)
            by_url = not isinstance(client, AudioUploader)
            if by_url and not isinstance(client, MediaUrlSender):
                logger.warning("voice reply to %s: channel %s cannot send audio", who, channel)
                VOICE_REPLIES.labels(channel=channel, outcome="unsupported").inc()
                return False
            if by_url and (self.store is None or not self.public_base_url):
                logger.warning(
                    "voice reply to %s skipped: %s fetches audio from a public URL; "
                    "set PUBLIC_BASE_URL", who, channel,
                )
                VOICE_REPLIES.labels(channel=channel, outcome="no_public_url").inc()
                return False
            audio = await self.speech.synthesize(spoken)
            await (self._via_url if by_url else self._via_upload)(client, to, audio)
        except Exception as exc:  # noqa: BLE001 - the text is out; never retry the burst for this
            logger.warning("voice reply to %s on %s failed: %s", who, channel, exc)
            VOICE_REPLIES.labels(channel=channel, outcome="failed").inc()
            return False
        logger.info("voice reply sent to %s on %s (%d bytes)", who, channel, len(audio))
        VOICE_REPLIES.labels(channel=channel, outcome="sent").inc()
        return True

    async def _via_upload(self, client: object, to: str, audio: bytes) -> None:
        assert isinstance(client, AudioUploader)
        media_id = await client.upload_media(audio, AUDIO_MIME_TYPE, filename="reply.ogg")
        await client.send_audio(to, media_id)

    async def _via_url(self, client: object, to: str, audio: bytes) -> None:
        assert isinstance(client, MediaUrlSender)
        assert self.store is not None and self.public_base_url is not None
        audio_id = await self.store.put(audio)
        await client.send_media(to, audio_url(self.public_base_url, audio_id))
