"""Inbound media to the graph's input: the `MessageConverter` that makes every attachment count.

- Voice notes and audio are transcribed (`integrations.speech`) and enter as the lead's own words,
  marked: `[voice note] <transcript>`.
- Images become multimodal content, `[{"type": "text", ...}, {"type": "image_url", ...}]` with a
  base64 data URL, which `ChatOpenAI` sends to the model as vision input.
- PDFs become their text (pypdf), trimmed to `pdf_max_chars`, as `[document: name.pdf]\\n<text>`;
  other documents are acknowledged by name (`pipeline.convert.describe`), and so are video,
  stickers, contacts and reactions; a location becomes text with its coordinates and name.
- What cannot be used (too large, a type outside the allow-list, a failed download, audio that
  could not be transcribed, an unreadable PDF) becomes a bracketed note that tells the agent what
  happened and to tell the lead politely. One broken attachment never fails the burst.

All messages of a burst are converted concurrently (at most `concurrency` downloads at a time) and
returned in the burst's order, one `HumanMessage` per provider message, its id the message id.

Cache: the processor converts a burst again when it re-runs it with newer messages merged in,
seconds later, in the same process. An in-process LRU keyed by channel and message id, with a TTL,
makes that re-run free: no second download, transcription or PDF parse. Redis was the other
choice; it would also cover a retry on another worker, but that is rare (a failed burst) and
would mean putting lead photos (megabytes of base64) and document text in shared storage for
little gain. Only outcomes that cannot change are cached: a transient failure (download, speech
server) is tried again on the next call.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
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
from pipeline.convert import describe

if TYPE_CHECKING:
    from integrations.media import Media, MediaDownloader
    from integrations.speech import Speech
    from integrations.whatsapp.types import InboundMessage, MediaRef

__all__ = [
    "MEDIA_CONVERSIONS",
    "ConversionCache",
    "MediaConverter",
    "extract_pdf_text",
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
PDF_MAX_PAGES = 50  # text beyond the limit is not needed; parsing every page of a book is slow
_AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
    "audio/mp4": "m4a", "audio/m4a": "m4a", "audio/x-m4a": "m4a", "audio/aac": "aac",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/webm": "webm", "audio/flac": "flac",
    "audio/amr": "amr",
}

Part = str | dict[str, Any]
"""A piece of one message's content: text, or an `image_url` content part."""
Content = str | list[str | dict[str, Any]]
Role = Literal["voice", "audio", "image", "pdf", "document", "other"]

# How each attachment role is named in notes to the agent.
_A_KIND: dict[Role, str] = {
    "voice": "a voice note", "audio": "an audio file", "image": "an image", "pdf": "a PDF",
    "document": "a document", "other": "a file",
}


def is_voice_note(message: InboundMessage) -> bool:
    """A recorded voice note: Meta says so; Twilio does not, and WhatsApp records Ogg/Opus."""
    if message.kind != "audio":
        return False
    return any(
        ref.voice or normalize_mime(ref.mime_type) in ("audio/ogg", "audio/opus")
        for ref in message.media
    )


def _role(message: InboundMessage, ref: MediaRef) -> Role:
    mime = normalize_mime(ref.mime_type) or ""
    if message.kind == "audio" or mime.startswith("audio/"):
        voice = ref.voice or mime in ("audio/ogg", "audio/opus")
        return "voice" if voice else "audio"
    if message.kind == "image" or (message.kind != "sticker" and mime.startswith("image/")):
        return "image"
    if message.kind == "document" or mime.startswith(("application/", "text/")):
        if mime == "application/pdf" or (ref.filename or "").lower().endswith(".pdf"):
            return "pdf"
        return "document"
    return "other"


# --- Notes to the agent --------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    shown = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return f"{shown} MB"


def _with_caption(note: str, caption: str | None) -> str:
    return f"{note} {caption}" if caption else note


def note_too_large(role: Role, error: MediaTooLarge) -> str:
    limit = _megabytes(error.limit)
    sent = (
        f"{_A_KIND[role]} of {_megabytes(error.size)}"
        if error.size is not None
        else f"{_A_KIND[role]} larger than {limit}"
    )
    return (
        f"[the lead sent {sent}; files over {limit} can't be processed — tell them politely "
        "and ask for a smaller file or a short description in words]"
    )


def note_unsupported(role: Role, mime_type: str | None) -> str:
    kind = f" ({mime_type})" if mime_type else ""
    return (
        f"[the lead sent {_A_KIND[role]} in a format that can't be processed{kind} — tell them "
        "politely and ask for a photo, a PDF or a short description in words]"
    )


def note_download_failed(role: Role) -> str:
    return (
        f"[the lead sent {_A_KIND[role]} that could not be downloaded — tell them politely and "
        "ask them to send it again]"
    )


def note_not_transcribed(role: Role) -> str:
    return (
        f"[the lead sent {_A_KIND[role]} that could not be transcribed — tell them politely and "
        "ask them to send it again or to write the message]"
    )


# --- PDF ---------------------------------------------------------------------------------------


def extract_pdf_text(data: bytes, *, max_chars: int) -> tuple[str, bool]:
    """The text of a PDF, whitespace tidied, cut at `max_chars`; and whether it was trimmed.

    CPU-bound: call it in a thread. Raises whatever pypdf raises for a broken or locked file."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("the PDF is password-protected")
    pieces: list[str] = []
    total = 0
    pages = len(reader.pages)
    trimmed = pages > PDF_MAX_PAGES
    for page in reader.pages[:PDF_MAX_PAGES]:
        text = _tidy(page.extract_text() or "")
        if text:
            pieces.append(text)
            total += len(text) + 2
        if total > max_chars:
            trimmed = True
            break
    text = "\n\n".join(pieces)
    if len(text) > max_chars:
        trimmed = True
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars * 0.8 else max_chars].rstrip()
    return text, trimmed


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._chars -= entry[1]


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
    """One attachment converted: text for the agent, or an image part; whether it may be cached."""

    text: str | None = None
    image: dict[str, Any] | None = None
    final: bool = True


class MediaConverter:
    """Converts a burst's messages with their media (see the module docstring).

    Without `speech` (no LLM configured) voice notes are not downloaded: the agent is told it
    could not hear them."""

    def __init__(
        self,
        downloader: MediaDownloader,
        *,
        speech: Speech | None = None,
        pdf_max_chars: int = 4000,
        concurrency: int = 4,
        cache: ConversionCache | None = None,
    ) -> None:
        self.downloader = downloader
        self.speech = speech
        self.pdf_max_chars = pdf_max_chars
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.cache = cache if cache is not None else ConversionCache()

    async def convert(self, messages: list[InboundMessage]) -> list[HumanMessage]:
        """One `HumanMessage` per message, in order; never raises for a message's media."""
        contents = await asyncio.gather(*(self._message(m) for m in messages))
        return [
            HumanMessage(content=content, id=m.message_id)
            for m, content in zip(messages, contents, strict=True)
        ]

    async def _message(self, message: InboundMessage) -> Content:
        if not message.media or message.kind not in ("audio", "image", "document"):
            return describe(message)
        key = f"{message.channel}:{message.message_id}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        pieces = await asyncio.gather(*(self._piece(message, ref) for ref in message.media))
        content = _assemble(message, list(pieces))
        if all(piece.final for piece in pieces):
            self.cache.put(key, content)
        return content

    async def _piece(self, message: InboundMessage, ref: MediaRef) -> _Piece:
        role = _role(message, ref)
        if role in ("document", "other"):
            MEDIA_CONVERSIONS.labels(kind=role, outcome="named").inc()
            return _Piece(text=None)  # acknowledged by name in _assemble
        if role in ("voice", "audio") and self.speech is None:
            MEDIA_CONVERSIONS.labels(kind=role, outcome="no_speech").inc()
            return _Piece(text=note_not_transcribed(role), final=False)
        try:
            async with self._slots:
                media = await self.downloader.download(message.channel, ref)
            piece = await self._use(role, ref, media)
        except MediaTooLarge as exc:
            outcome, piece = "too_large", _Piece(text=note_too_large(role, exc))
        except UnsupportedMediaType as exc:
            outcome, piece = "unsupported", _Piece(text=note_unsupported(role, exc.mime_type))
        except (MediaDownloadFailed, MediaError) as exc:
            outcome, piece = "download_failed", _Piece(text=note_download_failed(role), final=False)
            self._warn(message, role, exc)
        except SpeechError as exc:
            final = not isinstance(exc, SpeechUnavailable)
            outcome, piece = "not_transcribed", _Piece(text=note_not_transcribed(role), final=final)
            self._warn(message, role, exc)
        except Exception as exc:  # noqa: BLE001 - one broken attachment must not fail the burst
            outcome, piece = "error", _Piece(text=note_download_failed(role), final=False)
            self._warn(message, role, exc)
        else:
            outcome = "ok"
        MEDIA_CONVERSIONS.labels(kind=role, outcome=outcome).inc()
        return piece

    async def _use(self, role: Role, ref: MediaRef, media: Media) -> _Piece:
        if role in ("voice", "audio"):
            assert self.speech is not None
            ext = _AUDIO_EXTENSIONS.get(media.mime_type, "ogg")
            filename = ref.filename or f"{'voice-note' if role == 'voice' else 'audio'}.{ext}"
            text = await self.speech.transcribe(
                media.data, filename=filename, mime_type=media.mime_type
            )
            label = "[voice note]" if role == "voice" else "[audio]"
            if not text:
                return _Piece(text=f"{label} (no words could be made out — ask the lead politely "
                              "to send it again or to write it)")
            return _Piece(text=f"{label} {text}")
        if role == "image":
            if media.mime_type not in VISION_TYPES:
                raise UnsupportedMediaType(media.mime_type)
            encoded = base64.b64encode(media.data).decode("ascii")
            return _Piece(
                image={
                    "type": "image_url",
                    "image_url": {"url": f"data:{media.mime_type};base64,{encoded}"},
                }
            )
        # a PDF
        name = ref.filename or "document.pdf"
        try:
            text, trimmed = await asyncio.to_thread(
                extract_pdf_text, media.data, max_chars=self.pdf_max_chars
            )
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types for broken files
            logger.info("pdf text extraction failed: %s", type(exc).__name__)
            text, trimmed = "", False
        if not text:
            return _Piece(
                text=f"[document: {name} — its text could not be read (a scan or a protected "
                "file?); ask the lead politely for the key details in a message]"
            )
        more = "\n[… trimmed: the document is longer]" if trimmed else ""
        return _Piece(text=f"[document: {name}]\n{text}{more}")

    @staticmethod
    def _warn(message: InboundMessage, role: Role, exc: BaseException) -> None:
        # Our errors never hold a URL or a token; the message id is safe to log.
        logger.warning(
            "media of message %s (%s, %s) not used: %s",
            message.message_id, role, message.channel, exc,
        )


def _assemble(message: InboundMessage, pieces: list[_Piece]) -> Content:
    """One message's content from its converted attachments and its caption."""
    caption = message.text
    images = [piece.image for piece in pieces if piece.image is not None]
    texts = [piece.text for piece in pieces if piece.text is not None]
    named = any(piece.text is None and piece.image is None for piece in pieces)
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
