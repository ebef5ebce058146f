"""A lead's video, to what the agent's model can take in: a few stills and the sound as audio.

Chat models take images, not video. `extract_video` reads a video once (PyAV, whose wheels carry
FFmpeg's decoders) and returns:

- stills: at most `frames` JPEGs (longest side `STILL_MAX_SIDE`, upright even when the phone
  recorded sideways and said so in the display matrix), in time order: the first
  frame, the frame nearest the middle, and the biggest scene changes (the frames that differ
  most from the one before, on 16 x 16 grey thumbnails), so that a walk through a warehouse
  shows more than its first second;
- the sound track as Ogg/Opus (`audio_convert.OggOpusWriter`), for speech-to-text;
- the duration. A video longer than `max_seconds` is refused (`VideoTooLong`) before any frame
  is decoded when its container says so, and as soon as a frame past the limit is seen when the
  container says nothing or lies.

Cost is bounded: a video of more than `FULL_DECODE_FRAMES` frames is decoded at its key frames
only (encoders put one at every scene cut, and phones one every second or two), so three minutes
decode fewer frames than twenty seconds decoded whole. It is CPU-bound and reads untrusted bytes:
a `pipeline.sandbox` job, never run on the event loop.
"""

from __future__ import annotations

import heapq
import io
import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from pipeline.audio_convert import OggOpusWriter, decode_packet
from pipeline.sandbox import MediaRefused

if TYPE_CHECKING:
    import av
    import av.container
    import av.stream
    import av.video.frame
    import av.video.reformatter
    import av.video.stream

__all__ = [
    "STILL_MAX_SIDE",
    "Still",
    "VideoExtract",
    "VideoTooLong",
    "extract_video",
]

STILL_MAX_SIDE = 768
"""Longest side of a still, in pixels: enough to read a label, a fraction of the tokens."""
FULL_DECODE_FRAMES = 600
"""Videos with more frames than this are decoded at their key frames only."""
SCENE_CHANGE = 12.0
"""Mean difference (0-255) between two thumbnails from which a frame counts as a scene change."""
_THUMB = 16


class VideoTooLong(MediaRefused):
    """The video lasts longer than the limit (`MEDIA_VIDEO_MAX_SECONDS`)."""

    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(seconds, limit)
        self.seconds = seconds
        self.limit = limit


class EmptyVideo(MediaRefused):
    """Neither a picture nor any sound could be decoded from the file."""


@dataclass(frozen=True, kw_only=True)
class Still:
    """One frame of the video as a JPEG."""

    at: float
    """Seconds from the start of the video."""
    jpeg: bytes


@dataclass(frozen=True, kw_only=True)
class VideoExtract:
    """What the model can use of a video."""

    duration: float
    """Seconds (the container's figure, or the last frame's time)."""
    stills: tuple[Still, ...]
    """In time order; empty for a file with sound only."""
    sound: bytes | None
    """The sound track as Ogg/Opus; None when the video has no sound track."""


@dataclass
class _Candidate:
    at: float
    frame: av.video.frame.VideoFrame


def extract_video(data: bytes, *, frames: int = 3, max_seconds: float = 180.0) -> VideoExtract:
    """Stills, sound and duration of the video in `data` (see the module docstring).

    Raises `VideoTooLong`, `EmptyVideo`, or PyAV's errors for a file it cannot open. A sandbox
    job: call it through `DecodeSandbox.run`."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        duration = _declared_duration(container)
        if duration is None:
            duration = _probed_duration(data)
        if duration is not None and duration > max_seconds:
            raise VideoTooLong(duration, max_seconds)
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise EmptyVideo()
        streams: list[av.stream.Stream] = []
        rate = _frame_rate(video)
        if video is not None:
            video.codec_context.thread_count = 1
            if (video.frames or (duration or 0) * rate) > FULL_DECODE_FRAMES:
                video.codec_context.skip_frame = "NONKEY"
            streams.append(video)
        sound = None
        if audio is not None:
            audio.codec_context.thread_count = 1
            sound = OggOpusWriter(max_seconds=max_seconds)
            streams.append(audio)
        picker = _StillPicker(wanted=frames, middle=None if duration is None else duration / 2)
        start: float | None = None
        last = 0.0
        packets = 0
        for packet in container.demux(*streams):
            packets += packet.stream is video
            for frame in decode_packet(packet):
                if isinstance(frame, av.VideoFrame):
                    # A raw stream has no timestamps: its packets are counted instead.
                    time = frame.time if frame.time is not None else (packets - 1) / rate
                    start = time if start is None else start
                    at = time - start
                    if at > max_seconds:  # the container said less, or nothing
                        raise VideoTooLong(at, max_seconds)
                    last = max(last, at)
                    picker.offer(frame, at)
                elif sound is not None and isinstance(frame, av.AudioFrame):
                    sound.add(frame)
        stills = picker.stills()
        sound_bytes = sound.finish() if sound is not None and sound.samples else None
        if not stills and sound_bytes is None:
            raise EmptyVideo()
        return VideoExtract(
            duration=duration if duration is not None else last, stills=stills, sound=sound_bytes
        )


def _declared_duration(container: av.container.InputContainer) -> float | None:
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    for stream in container.streams.video:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return None


def _frame_rate(stream: av.video.stream.VideoStream | None) -> float:
    if stream is None:
        return 25.0
    return float(stream.guessed_rate or stream.average_rate or 25)


def _probed_duration(data: bytes) -> float | None:
    """How long the video runs by its packets, read without decoding (cheap): from their
    timestamps, or their count for a raw stream that has none."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        base = stream.time_base
        times, count = [], 0
        for packet in container.demux(stream):
            if packet.size:
                count += 1
                if packet.pts is not None and base is not None:
                    times.append(float(packet.pts * base))
        if len(times) > 1:
            return max(times) - min(times)
        return count / _frame_rate(stream) if count else None


class _StillPicker:
    """Keeps the first frame, the one nearest `middle` and the biggest scene changes.

    Holds decoded frames (a handful); they are scaled and encoded once, at the end."""

    def __init__(self, *, wanted: int, middle: float | None) -> None:
        import av.video.reformatter

        self._wanted = max(1, wanted)
        self._middle_at = middle
        self._first: _Candidate | None = None
        self._middle: _Candidate | None = None
        self._changes: list[tuple[float, int, _Candidate]] = []  # a min-heap by difference
        self._slots = max(0, self._wanted - 1 - (1 if self._wanted >= 3 else 0))
        self._previous: bytes | None = None
        self._seen = 0
        self._reformatter = av.video.reformatter.VideoReformatter()  # reused: 15x faster

    def offer(self, frame: av.video.frame.VideoFrame, at: float) -> None:
        self._seen += 1
        candidate = _Candidate(at=at, frame=frame)
        if self._first is None:
            self._first = candidate
        elif self._middle_at is not None and self._wanted >= 2 and (
            self._middle is None
            or abs(at - self._middle_at) < abs(self._middle.at - self._middle_at)
        ):
            self._middle = candidate
        if not self._slots:
            return
        thumb = self._thumbnail(frame)
        previous, self._previous = self._previous, thumb
        if previous is None:
            return
        difference = _difference(previous, thumb)
        if difference < SCENE_CHANGE:
            return
        entry = (difference, self._seen, candidate)
        if len(self._changes) < self._slots:
            heapq.heappush(self._changes, entry)
        elif difference > self._changes[0][0]:
            heapq.heapreplace(self._changes, entry)

    def _thumbnail(self, frame: av.video.frame.VideoFrame) -> bytes:
        """A 16 x 16 grey version of the frame, as 256 bytes."""
        small = self._reformatter.reformat(
            frame, width=_THUMB, height=_THUMB, format="gray", interpolation="AREA"
        )
        plane = small.planes[0]
        raw = bytes(plane)
        return b"".join(
            raw[row * plane.line_size : row * plane.line_size + _THUMB] for row in range(_THUMB)
        )

    def stills(self) -> tuple[Still, ...]:
        """First, middle (from three stills up), scene changes by size, then the middle as a
        fallback; at most `wanted`, in time order."""
        order = [self._first]
        if self._wanted >= 3:
            order.append(self._middle)
        order += [entry[2] for entry in sorted(self._changes, key=lambda entry: -entry[0])]
        order.append(self._middle)
        chosen: dict[float, _Candidate] = {}
        for candidate in order:
            if candidate is not None and len(chosen) < self._wanted:
                chosen.setdefault(candidate.at, candidate)
        ordered = sorted(chosen.values(), key=lambda candidate: candidate.at)
        return tuple(
            Still(at=c.at, jpeg=_jpeg(_upright(_scaled(c.frame), c.frame.rotation)))
            for c in ordered
        )


def _difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def _scaled(frame: av.video.frame.VideoFrame) -> av.video.frame.VideoFrame:
    scale = min(1.0, STILL_MAX_SIDE / max(frame.width, frame.height, 1))
    width = max(2, round(frame.width * scale / 2) * 2)
    height = max(2, round(frame.height * scale / 2) * 2)
    return frame.reformat(width=width, height=height, format="yuvj420p")


# Counterclockwise quarter turns -> the filters that make the picture upright.
_TURNS: dict[int, tuple[tuple[str, str | None], ...]] = {
    1: (("transpose", "cclock"),),
    2: (("hflip", None), ("vflip", None)),
    3: (("transpose", "clock"),),
}


def _upright(frame: av.video.frame.VideoFrame, rotation: int) -> av.video.frame.VideoFrame:
    """The frame as it is meant to be seen: phones record portrait video sideways and say so in
    the display matrix (`rotation`, degrees counterclockwise)."""
    filters = _TURNS.get(round(rotation / 90) % 4)
    if not filters:
        return frame
    import av.filter

    graph = av.filter.Graph()
    chain = [graph.add_buffer(
        width=frame.width, height=frame.height, format=frame.format,
        time_base=Fraction(1, 25),
    )]
    chain += [graph.add(name, args) for name, args in filters]
    chain.append(graph.add("buffersink"))
    for source, sink in itertools.pairwise(chain):
        source.link_to(sink)
    graph.configure()
    frame.pts = 0
    graph.push(frame)
    turned = graph.pull()
    assert isinstance(turned, av.VideoFrame)
    return turned


def _jpeg(frame: av.video.frame.VideoFrame) -> bytes:
    import av

    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = frame.width, frame.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    frame.pts = None
    packets = encoder.encode(frame) + encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets)
