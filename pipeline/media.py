"""Inbound media to the graph's input: the `MessageConverter` that makes every attachment count.

- Voice notes and audio are transcribed (`integrations.speech`) and enter as the lead's own words,
  marked: `[voice note] <transcript>`. Ogg and MP3 are uploaded as they came; AMR, AAC, M4A, 3GP
  and every other format are first converted to Ogg/Opus (`pipeline.audio_convert`), because
  speech-to-text endpoints refuse most of them.
- Images become multimodal content, `[{"type": "text", ...}, {"type": "image_url", ...}]` with a
  base64 data URL, which `ChatOpenAI` sends to the model as vision input.
- Videos (`pipeline.video`) become a few stills (image parts, at most `video_frames`) and the
  transcript of their sound, in one message: `[video, 1:42; 3 frames below, at 0:00, 0:51,
  1:15] <caption>\\n[sound] <transcript>`. Longer than `video_max_seconds`: refused politely.
- PDF, Word (DOCX), Excel (XLSX) and CSV documents become their text (`pipeline.documents`),
  trimmed to `document_max_chars`, as `[document: name.docx]\\n<text>`; other documents are
  acknowledged by name (`pipeline.convert.describe`), and so are stickers, contacts and
  reactions; a location becomes text with its coordinates and name.
- What cannot be used (too large, too long, a type outside the allow-list, a failed download,
  a damaged or password-protected file, audio that could not be transcribed) becomes a bracketed
  note that tells the agent what happened and to tell the lead politely. One broken attachment
  never fails the burst.

Decoding (audio conversion, video, documents) reads untrusted bytes and is CPU-bound: it runs in
`pipeline.sandbox`, a child process per file with a time and a memory limit, never on the event
loop. All messages of a burst are converted concurrently (at most `concurrency` downloads at a
time, at most the sandbox's own limit decoding) and returned in the burst's order, one
`HumanMessage` per provider message, its id the message id.

Cache: the processor converts a burst again when it re-runs it with newer messages merged in,
seconds later, in the same process. An in-process LRU keyed by channel, contact and message id
(so an erasure can drop a contact's entries, `forget_contact`), with a TTL,
makes that re-run free: no second download, decoding, transcription or parse. Redis was the other
choice; it would also cover a retry on another worker, but that is rare (a failed burst) and
would mean putting lead photos (megabytes of base64) and document text in shared storage for
little gain. Only outcomes that cannot change are cached: a transient failure (download, speech
server, a decoding timeout) is tried again on the next call.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import HumanMessage
from prometheus_client import Counter

from integrations.media import (
    MediaDownloadFailed,
    MediaError,
    MediaTooLarge,
    UnsupportedMediaType,
    normalize_mime,
)
from integrations.speech import SpeechError, SpeechUnavailable
from pipeline.audio_convert import SPEECH_MIME_TYPE, needs_conversion, to_ogg_opus
from pipeline.convert import describe, human_message
from pipeline.documents import DocumentKind, DocumentLocked, document_kind, extract_text
from pipeline.sandbox import DecodeError, DecodeSandbox, DecodeTimeout, MediaRefused
from pipeline.video import VideoTooLong, extract_video

if TYPE_CHECKING:
    from integrations.media import Media, MediaDownloader
    from integrations.speech import Speech
    from integrations.whatsapp.types import InboundMessage, MediaRef

__all__ = [
    "MEDIA_CONVERSIONS",
    "ConversionCache",
    "MediaConverter",
    "is_voice_note",
]

logger = logging.getLogger(__name__)

MEDIA_CONVERSIONS = Counter(
    "wa_media_conversions_total",
    "Inbound attachments converted for the agent, by kind and outcome.",
    ["kind", "outcome"],
)

# Types the vision models accept as image input.
VISION_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# Extensions of the audio uploaded as it came (the speech server reads the container from it).
_UPLOAD_EXTENSIONS = {
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
}

Part = str | dict[str, Any]
"""A piece of one message's content: text, or an `image_url` content part."""
Content = str | list[str | dict[str, Any]]
Role = Literal["voice", "audio", "image", "video", "document", "named", "other"]

# How each attachment is named in notes to the agent.
_A_KIND: dict[Role, str] = {
    "voice": "a voice note", "audio": "an audio file", "image": "an image", "video": "a video",
    "document": "a document", "named": "a document", "other": "a file",
}
_A_DOCUMENT: dict[DocumentKind, str] = {
    "pdf": "a PDF", "docx": "a Word document", "xlsx": "a spreadsheet", "csv": "a CSV file",
}


# Recorded speech whoever sends it: WhatsApp records Ogg/Opus; AMR is a speech-only codec (the
# voice notes of older Android phones).
_VOICE_TYPES = frozenset({"audio/ogg", "audio/opus", "audio/amr", "audio/amr-wb"})


def is_voice_note(message: InboundMessage) -> bool:
    """A recorded voice note: Meta says so; Twilio does not, so the type tells."""
    if message.kind != "audio":
        return False
    return any(ref.voice or normalize_mime(ref.mime_type) in _VOICE_TYPES for ref in message.media)


@dataclass(frozen=True, slots=True)
class _Kind:
    """What an attachment is, as far as conversion goes."""

    role: Role
    noun: str
    """How notes to the agent name it: "a voice note", "a spreadsheet"."""
    document: DocumentKind | None = None


def _kind(message: InboundMessage, ref: MediaRef) -> _Kind:
    mime = normalize_mime(ref.mime_type) or ""
    role: Role
    if message.kind == "audio" or mime.startswith("audio/"):
        role = "voice" if ref.voice or mime in _VOICE_TYPES else "audio"
    elif message.kind == "video" or mime.startswith("video/"):
        role = "video"
    elif message.kind == "image" or (message.kind != "sticker" and mime.startswith("image/")):
        role = "image"
    elif message.kind == "document" or mime.startswith(("application/", "text/")):
        document = document_kind(mime, ref.filename)
        if document is not None:
            return _Kind("document", _A_DOCUMENT[document], document)
        role = "named"
    else:
        role = "other"
    return _Kind(role, _A_KIND[role])


# --- Notes to the agent --------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    shown = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return f"{shown} MB"


def _clock(seconds: float, *, tenths: bool = False) -> str:
    """`0:07`, `2:05`, `1:02:05`; with `tenths`, `0:01.5`."""
    if tenths:
        minutes, rest = divmod(round(seconds, 1), 60)
        return f"{int(minutes)}:{rest:04.1f}"
    hours, rest = divmod(int(seconds + 0.5), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _with_caption(note: str, caption: str | None) -> str:
    return f"{note} {caption}" if caption else note


def note_too_large(noun: str, error: MediaTooLarge) -> str:
    limit = _megabytes(error.limit)
    sent = (
        f"{noun} of {_megabytes(error.size)}"
        if error.size is not None
        else f"{noun} larger than {limit}"
    )
    return (
        f"[the lead sent {sent}; files over {limit} can't be processed — tell them politely "
        "and ask for a smaller file or a short description in words]"
    )


def note_too_long(error: VideoTooLong) -> str:
    return (
        f"[the lead sent a video of {_clock(error.seconds)}; videos over "
        f"{_clock(error.limit)} can't be processed — tell them politely and ask for a shorter "
        "clip or a short description in words]"
    )


def note_unsupported(noun: str, mime_type: str | None) -> str:
    kind = f" ({mime_type})" if mime_type else ""
    return (
        f"[the lead sent {noun} in a format that can't be processed{kind} — tell them "
        "politely and ask for a photo, a PDF or a short description in words]"
    )


def note_download_failed(noun: str) -> str:
    return (
        f"[the lead sent {noun} that could not be downloaded — tell them politely and "
        "ask them to send it again]"
    )


def note_not_transcribed(noun: str) -> str:
    return (
        f"[the lead sent {noun} that could not be transcribed — tell them politely and "
        "ask them to send it again or to write the message]"
    )


def note_unplayable(noun: str) -> str:
    return (
        f"[the lead sent {noun} that could not be played (a damaged or unusual file) — tell "
        "them politely and ask them to send it again or to write the message]"
    )


def note_unreadable(name: str) -> str:
    return (
        f"[document: {name} — its text could not be read (a scan or a damaged file?); ask the "
        "lead politely for the key details in a message]"
    )


def note_locked(name: str) -> str:
    return (
        f"[document: {name} — it is password-protected; ask the lead politely to send it "
        "without a password or to write the key details in a message]"
    )


# --- Cache -------------------------------------------------------------------------------------


class ConversionCache:
    """A small in-process LRU of converted message content, with a TTL (see the module docstring).

    Bounded by entries and by the characters held (images are large base64 strings)."""

    def __init__(
        self,
        *,
        max_entries: int = 256,
        max_chars: int = 64 * 1024 * 1024,
        ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, int, Content]] = OrderedDict()
        self._max_entries = max_entries
        self._max_chars = max_chars
        self._ttl = ttl_seconds
        self._clock = clock
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Content | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, _, content = entry
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return copy.deepcopy(content)  # the graph may edit its messages; the cache stays as was

    def put(self, key: str, content: Content) -> None:
        size = _content_chars(content)
        if size > self._max_chars:
            return
        self._drop(key)
        self._entries[key] = (self._clock() + self._ttl, size, copy.deepcopy(content))
        self._chars += size
        while self._entries and (
            len(self._entries) > self._max_entries or self._chars > self._max_chars
        ):
            self._drop(next(iter(self._entries)))

    def forget(self, prefix: str) -> int:
        """Drop every entry whose key starts with `prefix`; how many there were."""
        keys = [key for key in self._entries if key.startswith(prefix)]
        for key in keys:
            self._drop(key)
        return len(keys)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._chars -= entry[1]


def _contact_prefix(channel: str, contact: str) -> str:
    return f"{channel}:{contact}:"


def _content_chars(content: Content) -> int:
    if isinstance(content, str):
        return len(content)
    total = 0
    for part in content:
        if isinstance(part, str):
            total += len(part)
        else:
            total += len(part.get("text") or "") + len((part.get("image_url") or {}).get("url", ""))
    return total


# --- Converter ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Piece:
    """One attachment converted: text for the agent and image parts; whether it may be cached."""

    text: str | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    final: bool = True
    outcome: str = "ok"
    """For the metric: "ok", or why the file was described instead of used."""


def _image_part(mime_type: str, data: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime_type};base64,{encoded}"}}


class MediaConverter:
    """Converts a burst's messages with their media (see the module docstring).

    Without `speech` (no LLM configured) voice notes are not downloaded: the agent is told it
    could not hear them; a video's stills still reach it."""

    def __init__(
        self,
        downloader: MediaDownloader,
        *,
        speech: Speech | None = None,
        sandbox: DecodeSandbox | None = None,
        document_max_chars: int = 4000,
        video_frames: int = 3,
        video_max_seconds: float = 180.0,
        concurrency: int = 4,
        cache: ConversionCache | None = None,
    ) -> None:
        self.downloader = downloader
        self.speech = speech
        self.sandbox = sandbox if sandbox is not None else DecodeSandbox()
        self.document_max_chars = document_max_chars
        self.video_frames = video_frames
        self.video_max_seconds = video_max_seconds
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.cache = cache if cache is not None else ConversionCache()
        self._uses: dict[Role, Callable[[_Kind, MediaRef, Media], Awaitable[_Piece]]] = {
            "voice": self._audio, "audio": self._audio, "image": self._image,
            "video": self._video, "document": self._document,
        }

    async def convert(self, messages: list[InboundMessage]) -> list[HumanMessage]:
        """One `HumanMessage` per message, in order; never raises for a message's media."""
        contents = await asyncio.gather(*(self._message(m) for m in messages))
        return [
            human_message(m, content) for m, content in zip(messages, contents, strict=True)
        ]

    async def _message(self, message: InboundMessage) -> Content:
        if not message.media or message.kind not in ("audio", "image", "video", "document"):
            return describe(message)
        key = f"{_contact_prefix(message.channel, message.contact)}{message.message_id}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        pieces = await asyncio.gather(*(self._piece(message, ref) for ref in message.media))
        content = _assemble(message, list(pieces))
        if all(piece.final for piece in pieces):
            self.cache.put(key, content)
        return content

    def forget_contact(self, channel: str, contact: str) -> None:
        """Drop what this process cached of the contact's media (a data-deletion request)."""
        self.cache.forget(_contact_prefix(channel, contact))

    async def _piece(self, message: InboundMessage, ref: MediaRef) -> _Piece:
        kind = _kind(message, ref)
        use = self._uses.get(kind.role)
        if use is None:
            MEDIA_CONVERSIONS.labels(kind=kind.role, outcome="named").inc()
            return _Piece(text=None)  # acknowledged by name in _assemble
        if kind.role in ("voice", "audio") and self.speech is None:
            MEDIA_CONVERSIONS.labels(kind=kind.role, outcome="no_speech").inc()
            return _Piece(text=note_not_transcribed(kind.noun), final=False)
        try:
            async with self._slots:
                media = await self.downloader.download(message.channel, ref)
            piece = await use(kind, ref, media)
        except MediaTooLarge as exc:
            outcome, piece = "too_large", _Piece(text=note_too_large(kind.noun, exc))
        except UnsupportedMediaType as exc:
            outcome = "unsupported"
            piece = _Piece(text=note_unsupported(kind.noun, exc.mime_type))
        except (MediaDownloadFailed, MediaError) as exc:
            outcome = "download_failed"
            piece = _Piece(text=note_download_failed(kind.noun), final=False)
            self._warn(message, kind, exc)
        except SpeechError as exc:
            final = not isinstance(exc, SpeechUnavailable)
            outcome = "not_transcribed"
            piece = _Piece(text=note_not_transcribed(kind.noun), final=final)
            self._warn(message, kind, exc)
        except DecodeError as exc:
            outcome = "undecodable"
            piece = _Piece(
                text=note_unreadable(_document_name(kind, ref)) if kind.role == "document"
                else note_unplayable(kind.noun),
                final=not isinstance(exc, DecodeTimeout),
            )
            self._warn(message, kind, exc)
        except Exception as exc:  # noqa: BLE001 - one broken attachment must not fail the burst
            outcome, piece = "error", _Piece(text=note_download_failed(kind.noun), final=False)
            self._warn(message, kind, exc)
        else:
            outcome = piece.outcome
        MEDIA_CONVERSIONS.labels(kind=kind.role, outcome=outcome).inc()
        return piece

    # --- One handler per role; DecodeError and SpeechError are noted by `_piece` -------------

    async def _audio(self, kind: _Kind, ref: MediaRef, media: Media) -> _Piece:
        assert self.speech is not None
        data, mime = media.data, media.mime_type
        if needs_conversion(mime):
            try:
                data = await self.sandbox.run(to_ogg_opus, data)
            except MediaRefused:  # no audio stream
                return _Piece(text=note_unplayable(kind.noun), outcome="unplayable")
            mime = SPEECH_MIME_TYPE
        stem = (ref.filename or "").rpartition(".")[0] or ref.filename
        stem = stem or ("voice-note" if kind.role == "voice" else "audio")
        text = await self.speech.transcribe(
            data, filename=f"{stem}.{_UPLOAD_EXTENSIONS.get(mime, 'ogg')}", mime_type=mime
        )
        label = "[voice note]" if kind.role == "voice" else "[audio]"
        if not text:
            return _Piece(text=f"{label} (no words could be made out — ask the lead politely "
                          "to send it again or to write it)")
        return _Piece(text=f"{label} {text}")

    async def _image(self, kind: _Kind, ref: MediaRef, media: Media) -> _Piece:
        if media.mime_type not in VISION_TYPES:
            raise UnsupportedMediaType(media.mime_type)
        return _Piece(images=[_image_part(media.mime_type, media.data)])

    async def _video(self, kind: _Kind, ref: MediaRef, media: Media) -> _Piece:
        try:
            video = await self.sandbox.run(
                extract_video, media.data, frames=self.video_frames,
                max_seconds=self.video_max_seconds,
            )
        except VideoTooLong as exc:
            return _Piece(text=note_too_long(exc), outcome="too_long")
        except MediaRefused:  # neither picture nor sound
            return _Piece(text=note_unplayable(kind.noun), outcome="unplayable")
        if video.stills:
            short = video.duration < 60  # stills a second apart would read "0:02, 0:02"
            times = ", ".join(_clock(still.at, tenths=short) for still in video.stills)
            shown = f"{len(video.stills)} frame{'s' if len(video.stills) > 1 else ''} below, at"
            header = f"[video, {_clock(video.duration)}; {shown} {times}]"
        else:
            header = f"[video, {_clock(video.duration)}; no picture]"
        sound, final = await self._sound(video.sound)
        return _Piece(
            text=f"{header}\n{sound}",
            images=[_image_part("image/jpeg", still.jpeg) for still in video.stills],
            final=final,
        )

    async def _sound(self, sound: bytes | None) -> tuple[str, bool]:
        """A video's sound track as a line for the agent; and whether that line is final."""
        if sound is None:
            return "[sound: none]", True
        if self.speech is None:
            return "[sound: could not be transcribed]", False
        try:
            text = await self.speech.transcribe(
                sound, filename="video.ogg", mime_type=SPEECH_MIME_TYPE
            )
        except SpeechError as exc:
            logger.warning("the sound of a video was not transcribed: %s", exc)
            return "[sound: could not be transcribed]", not isinstance(exc, SpeechUnavailable)
        return (f"[sound] {text}" if text else "[sound: no words could be made out]"), True

    async def _document(self, kind: _Kind, ref: MediaRef, media: Media) -> _Piece:
        assert kind.document is not None
        name = _document_name(kind, ref)
        try:
            text, trimmed = await self.sandbox.run(
                extract_text, kind.document, media.data, max_chars=self.document_max_chars
            )
        except DocumentLocked:
            return _Piece(text=note_locked(name), outcome="locked")
        except MediaRefused:
            text, trimmed = "", False
        if not text:
            return _Piece(text=note_unreadable(name), outcome="no_text")
        more = "\n[… trimmed: the document is longer]" if trimmed else ""
        return _Piece(text=f"[document: {name}]\n{text}{more}")

    @staticmethod
    def _warn(message: InboundMessage, kind: _Kind, exc: BaseException) -> None:
        # Our errors never hold a URL or a token; the message id is safe to log.
        logger.warning(
            "media of message %s (%s, %s) not used: %s",
            message.message_id, kind.role, message.channel, exc,
        )


def _document_name(kind: _Kind, ref: MediaRef) -> str:
    return ref.filename or f"document.{kind.document or 'bin'}"


def _assemble(message: InboundMessage, pieces: list[_Piece]) -> Content:
    """One message's content from its converted attachments and its caption."""
    caption = message.text
    images = [image for piece in pieces for image in piece.images]
    texts = [piece.text for piece in pieces if piece.text is not None]
    named = any(piece.text is None and not piece.images for piece in pieces)
    if named:
        texts.insert(0, describe(message))  # documents acknowledged by name, caption included
        caption = None
    if texts and caption:
        # A caption belongs with the attachment: after a note's first line, or on its own line.
        first, sep, rest = texts[0].partition("\n")
        texts[0] = f"{_with_caption(first, caption)}{sep}{rest}"
        caption = None
    if not images:
        return "\n".join(texts) if texts else describe(message)
    lead = "\n".join(texts) or caption or "[image]"
    return [{"type": "text", "text": lead}, *images]
