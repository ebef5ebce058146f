"""`to_ogg_opus`: every audio format a phone sends becomes Ogg/Opus for speech-to-text."""

from __future__ import annotations

import av
import pytest

from pipeline.audio_convert import NoAudio, needs_conversion, to_ogg_opus
from tests.utils.media_files import audio_info, make_amr, make_audio, make_video


@pytest.mark.parametrize(
    ("codec", "container"),
    [
        ("libopencore_amrnb", "amr"),  # older Android voice notes
        ("aac", "adts"),  # raw AAC
        ("aac", "ipod"),  # M4A, as iPhones share audio
        ("aac", "3gp"),
        ("pcm_s16le", "wav"),
        ("libopus", "webm"),
    ],
)
def test_each_format_becomes_ogg_opus(codec: str, container: str) -> None:
    rate = 8000 if codec.startswith("libopencore") else 16000
    chunk = 160 if codec.startswith("libopencore") else 1024
    source = make_audio(codec=codec, container=container, rate=rate, seconds=2.0, chunk=chunk)
    info = audio_info(to_ogg_opus(source))
    assert (info["container"], info["codec"]) == ("ogg", "opus")
    assert info["seconds"] == pytest.approx(2.0, abs=0.2)


def test_the_sound_of_a_video_file_is_taken_and_can_be_capped() -> None:
    info = audio_info(to_ogg_opus(make_video(seconds=3.0), max_seconds=1.0))
    assert info["codec"] == "opus" and info["seconds"] == pytest.approx(1.0, abs=0.15)


def test_a_file_without_sound_or_not_audio_at_all_is_refused() -> None:
    with pytest.raises(NoAudio):
        to_ogg_opus(make_video(sound=False))
    with pytest.raises(NoAudio):
        to_ogg_opus(b"#!AMR\n")  # the header, not one frame
    with pytest.raises(av.FFmpegError):
        to_ogg_opus(bytes(range(256)) * 8)


def test_only_ogg_and_mp3_go_to_speech_to_text_as_they_came() -> None:
    assert not needs_conversion("audio/ogg") and not needs_conversion("audio/mpeg")
    assert needs_conversion("audio/amr") and needs_conversion("audio/mp4")
    assert needs_conversion("audio/aac") and needs_conversion("video/3gpp")
    assert make_amr().startswith(b"#!AMR\n")
