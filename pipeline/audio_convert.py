"""Audio in whatever format a lead's phone recorded, to what speech-to-text endpoints accept.

WhatsApp voice notes are Ogg/Opus, but older Android phones send AMR, iPhones share AAC/M4A, and
forwarded clips arrive as 3GP, WAV, WebM or anything else. Speech-to-text servers accept a short
list (OpenAI: mp3, mp4, mpeg, mpga, m4a, wav, webm, ogg, flac; other OpenAI-compatible servers
fewer), and none takes AMR. So everything that is not already Ogg or MP3 is decoded and encoded
again as Ogg/Opus, mono, 16 kHz (what speech models listen at), 24 kbit/s: small to upload, and
the format WhatsApp itself records.

The conversion uses PyAV (`av`), whose wheels carry FFmpeg's codecs (AMR, AAC, Opus, MP3, H.264):
`uv sync` brings them, no system `ffmpeg` binary is needed. It is CPU-bound and reads untrusted
bytes, so it runs as a `pipeline.sandbox` job (`to_ogg_opus`), never on the event loop; PyAV
is imported inside the functions, so the service process, which only hands jobs to the sandbox,
never loads FFmpeg. `video.extract_video` uses `OggOpusWriter` for a video's sound track.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from pipeline.sandbox import MediaRefused

if TYPE_CHECKING:
    from collections.abc import Sequence

    import av
    import av.audio.frame
    import av.frame

__all__ = [
    "SPEECH_MIME_TYPE",
    "SPEECH_READY_TYPES",
    "NoAudio",
    "OggOpusWriter",
    "decode_packet",
    "needs_conversion",
    "to_ogg_opus",
]

SPEECH_MIME_TYPE = "audio/ogg"
"""The type of every converted file (Ogg/Opus)."""
SPEECH_READY_TYPES = frozenset({"audio/ogg", "audio/opus", "audio/mpeg", "audio/mp3"})
"""Uploaded as they came: every speech-to-text server takes Ogg/Opus and MP3."""
SAMPLE_RATE = 16_000
BIT_RATE = 24_000


class NoAudio(MediaRefused):
    """The file has no audio stream, or not one sample of it could be decoded."""


def needs_conversion(mime_type: str) -> bool:
    """Whether audio of this (normalized) type must be converted before speech-to-text."""
    return mime_type not in SPEECH_READY_TYPES


def to_ogg_opus(data: bytes, *, max_seconds: float | None = None) -> bytes:
    """The first audio stream of `data` (any container FFmpeg reads) as Ogg/Opus bytes.

    Stops after `max_seconds` of sound when given. Raises `NoAudio` (no sound in it), or PyAV's
    errors for a file it cannot read. A sandbox job: call it through `DecodeSandbox.run`."""
    import av

    with av.open(io.BytesIO(data), mode="r") as source:
        if not source.streams.audio:
            raise NoAudio()
        stream = source.streams.audio[0]
        stream.codec_context.thread_count = 1
        writer = OggOpusWriter(max_seconds=max_seconds)
        for packet in source.demux(stream):
            for frame in decode_packet(packet):
                if isinstance(frame, av.AudioFrame):
                    writer.add(frame)
            if writer.full:
                break
        if not writer.samples:
            raise NoAudio()
        return writer.finish()


def decode_packet(packet: av.Packet[Any]) -> Sequence[av.frame.Frame]:
    """The frames of one packet; none for a damaged packet (decoders resynchronise after it)."""
    import av

    try:
        return packet.decode()
    except av.FFmpegError:
        return []


class OggOpusWriter:
    """Decoded audio frames in, Ogg/Opus bytes out (mono, 16 kHz), up to `max_seconds`."""

    def __init__(self, *, max_seconds: float | None = None) -> None:
        import av

        self._out = io.BytesIO()
        self._sink = av.open(self._out, mode="w", format="ogg")
        self._encoder = self._sink.add_stream("libopus", rate=SAMPLE_RATE)
        self._encoder.layout = "mono"
        self._encoder.bit_rate = BIT_RATE
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        self.samples = 0
        """Samples written (at 16 kHz)."""

    @property
    def full(self) -> bool:
        return self._limit is not None and self.samples >= self._limit

    def add(self, frame: av.audio.frame.AudioFrame | None) -> None:
        """Encode one frame (None: flush the resampler)."""
        if frame is not None:
            frame.pts = None  # timestamps are the encoder's: sources often have gaps or none
        for resampled in self._resampler.resample(frame):
            if self.full:
                return
            self.samples += resampled.samples
            self._sink.mux(self._encoder.encode(resampled))

    def finish(self) -> bytes:
        """Flush and close; the Ogg/Opus file."""
        self.add(None)
        self._sink.mux(self._encoder.encode(None))
        self._sink.close()
        return self._out.getvalue()
