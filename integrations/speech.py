"""Speech through any OpenAI-compatible server: voice notes to text, replies to voice.

`Speech` wraps an injected `openai.AsyncOpenAI` (its `base_url` is `OPENAI_BASE_URL`, its own
`max_retries` retries 429/5xx/connection errors, so nothing here retries again). Speech-to-text
uses `STT_MODEL` on `/audio/transcriptions`; text-to-speech uses `TTS_MODEL` on `/audio/speech`
with `response_format="opus"`, which is Ogg/Opus: the format WhatsApp plays as a voice message.

Errors, one tree; the `openai` exceptions are mapped here, at the boundary:

    SpeechError                 speech-to-text or text-to-speech did not work
    ├── SpeechUnavailable       the server could not be reached, timed out, 429 or 5xx
    └── SpeechRejected          the server refused this request for good (4xx: key, model, audio)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import openai

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = [
    "MAX_SPEECH_CHARS",
    "Speech",
    "SpeechError",
    "SpeechRejected",
    "SpeechUnavailable",
]

T = TypeVar("T")

MAX_SPEECH_CHARS = 4096
"""The longest input `/audio/speech` accepts."""


class SpeechError(Exception):
    """Speech-to-text or text-to-speech did not work."""


class SpeechUnavailable(SpeechError):
    """The speech server could not be reached, timed out, rate limited us or answered 5xx."""


class SpeechRejected(SpeechError):
    """The speech server refused the request for good: the key, the model or the input."""


class Speech:
    """Transcribes audio and synthesizes voice with the models it is given."""

    def __init__(
        self, client: openai.AsyncOpenAI, *, stt_model: str, tts_model: str, voice: str
    ) -> None:
        self._client = client
        self.stt_model = stt_model
        self.tts_model = tts_model
        self.voice = voice

    def __repr__(self) -> str:
        return f"Speech(stt_model={self.stt_model!r}, tts_model={self.tts_model!r})"

    async def transcribe(self, audio: bytes, *, filename: str, mime_type: str) -> str:
        """The words spoken in `audio` (stripped; empty when nothing could be made out).

        `filename`'s extension tells the server the container (`voice.ogg`, `note.m4a`)."""
        result = await _mapped(
            self._client.audio.transcriptions.create(
                model=self.stt_model, file=(filename, audio, mime_type)
            ),
            "Speech-to-text",
        )
        text = getattr(result, "text", result)
        return text.strip() if isinstance(text, str) else ""

    async def synthesize(self, text: str) -> bytes:
        """`text` spoken, as Ogg/Opus bytes (at most `MAX_SPEECH_CHARS` characters are read)."""
        if not text.strip():
            raise SpeechRejected("There is no text to speak; pass the reply's text.")
        response = await _mapped(
            self._client.audio.speech.create(
                model=self.tts_model, voice=self.voice, input=text[:MAX_SPEECH_CHARS],
                response_format="opus",
            ),
            "Text-to-speech",
        )
        return response.content


async def _mapped(call: Awaitable[T], what: str) -> T:
    try:
        return await call
    except openai.APIConnectionError as exc:  # includes APITimeoutError
        raise SpeechUnavailable(
            f"{what} could not reach the server ({type(exc).__name__}); "
            "check OPENAI_BASE_URL or try again later."
        ) from exc
    except openai.APIStatusError as exc:
        status = exc.status_code
        if status == 429 or status >= 500:
            raise SpeechUnavailable(
                f"{what} is unavailable (HTTP {status}); try again later."
            ) from exc
        if status in (401, 403):
            raise SpeechRejected(
                f"{what} refused our credentials (HTTP {status}); check OPENAI_API_KEY."
            ) from exc
        raise SpeechRejected(
            f"{what} refused the request (HTTP {status}); check STT_MODEL/TTS_MODEL and the "
            "audio format."
        ) from exc
    except openai.OpenAIError as exc:
        raise SpeechRejected(f"{what} failed ({type(exc).__name__}).") from exc
