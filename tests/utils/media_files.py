"""Small real media files, made by the tests themselves: videos, audio clips, DOCX and XLSX.

Made with the same libraries the service reads them with (PyAV for video and audio,
python-docx, openpyxl), plus msoffcrypto-tool for a password-protected document, so no binary
fixture is committed and no system tool (ffmpeg, LibreOffice) is needed. Audio is a tone, not
speech: what the tests check is that the right bytes reach the speech-to-text server, whose
answer is scripted.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av

__all__ = [
    "BLUE",
    "GREEN",
    "RED",
    "audio_info",
    "encrypt_office",
    "jpeg_colour",
    "jpeg_grid",
    "jpeg_size",
    "make_amr",
    "make_audio",
    "make_docx",
    "make_video",
    "make_xlsx",
]

RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


def _tone(rate: int, seconds: float, frequency: float = 440.0) -> bytes:
    count = int(rate * seconds)
    return b"".join(
        struct.pack("<h", int(9000 * math.sin(2 * math.pi * frequency * n / rate)))
        for n in range(count)
    )


def _audio_frames(rate: int, seconds: float, chunk: int) -> list[av.AudioFrame]:
    pcm = _tone(rate, seconds)
    frames = []
    for start in range(0, len(pcm) // 2, chunk):
        samples = pcm[start * 2 : (start + chunk) * 2]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples) // 2)
        frame.planes[0].update(samples)
        frame.sample_rate = rate
        frame.pts = start
        frames.append(frame)
    return frames


def make_audio(
    *, codec: str, container: str, rate: int, seconds: float = 2.0, chunk: int = 1024
) -> bytes:
    """`seconds` of a 440 Hz tone, encoded with `codec` in `container` (PyAV's names)."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as sink:
        stream = sink.add_stream(codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        for frame in _audio_frames(rate, seconds, chunk):
            sink.mux(stream.encode(frame))
        sink.mux(stream.encode(None))
    return out.getvalue()


def make_amr(seconds: float = 2.0) -> bytes:
    """An AMR-NB clip (`#!AMR` file, 8 kHz), as older Android phones record voice notes."""
    return make_audio(
        codec="libopencore_amrnb", container="amr", rate=8000, seconds=seconds, chunk=160
    )


def make_video(
    *,
    colours: Sequence[tuple[int, int, int]] = (RED, GREEN, BLUE),
    seconds: float = 3.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    sound: bool = True,
    container: str = "mp4",
    rotation: int = 0,
    halves: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
) -> bytes:
    """An H.264 video showing each colour for an equal share of `seconds`, a key frame every
    second, with an AAC tone as its sound track when `sound`.

    `halves` paints every frame's left and right halves instead; `rotation` is the display
    matrix's (degrees counterclockwise), as phones record portrait video."""
    width, height = size
    total = int(seconds * fps)
    out = io.BytesIO()
    with av.open(out, "w", format=container) as sink:
        video = sink.add_stream("h264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = fps
        if rotation:
            video.set_display_rotation(rotation)
        audio = sink.add_stream("aac", rate=16000) if sound else None
        if audio is not None:
            audio.layout = "mono"
        for index in range(total):
            colour = colours[min(len(colours) - 1, index * len(colours) // total)]
            picture = av.VideoFrame(width, height, "rgb24")
            line = bytes(colour) * width
            if halves is not None:
                line = bytes(halves[0]) * (width // 2) + bytes(halves[1]) * (width - width // 2)
            padding = b"\0" * (picture.planes[0].line_size - len(line))
            picture.planes[0].update((line + padding) * height)
            picture = picture.reformat(format="yuv420p")
            picture.pts = index
            picture.time_base = Fraction(1, fps)
            sink.mux(video.encode(picture))
        sink.mux(video.encode(None))
        if audio is not None:
            for frame in _audio_frames(16000, seconds, 1024):
                sink.mux(audio.encode(frame))
            sink.mux(audio.encode(None))
    return out.getvalue()


def audio_info(data: bytes) -> dict[str, Any]:
    """Container, codec, sample rate and seconds of an audio file (read back with PyAV)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        return {
            "container": container.format.name,
            "codec": stream.codec_context.name,
            "rate": stream.codec_context.sample_rate,
            "seconds": (container.duration or 0) / 1_000_000,
        }


def jpeg_colour(data: bytes) -> tuple[int, int, int]:
    """The average colour of a JPEG, as RGB."""
    return jpeg_grid(data, 1, 1)[0]


def jpeg_grid(data: bytes, columns: int, rows: int) -> list[tuple[int, int, int]]:
    """A JPEG shrunk to `columns` x `rows` pixels, as RGB, row by row."""
    with av.open(io.BytesIO(data), mode="r", format="jpeg_pipe") as container:
        frame = next(container.decode(video=0))
    small = frame.reformat(width=columns, height=rows, format="rgb24")
    plane = small.planes[0]
    raw = bytes(plane)
    pixels = []
    for row in range(rows):
        line = raw[row * plane.line_size : row * plane.line_size + columns * 3]
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, columns * 3, 3)]
    return pixels


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG."""
    with av.open(io.BytesIO(data), mode="r", format="jpeg_pipe") as container:
        frame = next(container.decode(video=0))
    return frame.width, frame.height


def make_docx(*paragraphs: str, table: Sequence[Sequence[str]] = ()) -> bytes:
    """A Word document: the paragraphs, then a table of the given rows."""
    from docx import Document

    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(sheets: dict[str, Sequence[Sequence[Any]]]) -> bytes:
    """An Excel workbook with one sheet per entry, rows as given."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def encrypt_office(data: bytes, password: str = "s3cret") -> bytes:
    """The DOCX or XLSX `data`, password-protected the way Office does it (ECMA-376 agile)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()
