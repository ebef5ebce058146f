"""`extract_video`: stills (first, middle, scene changes), the sound as Ogg/Opus, the limits."""

from __future__ import annotations

import io

import av
import pytest

from pipeline.video import (
    FULL_DECODE_FRAMES,
    STILL_MAX_SIDE,
    EmptyVideo,
    VideoTooLong,
    extract_video,
)
from tests.utils.media_files import (
    BLUE,
    GREEN,
    RED,
    audio_info,
    jpeg_colour,
    jpeg_grid,
    jpeg_size,
    make_video,
)


def close(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(colour, expected, strict=True))


def test_the_first_the_middle_and_the_scene_change_are_kept_with_the_sound() -> None:
    video = extract_video(make_video(colours=(RED, GREEN, BLUE), seconds=3.0), frames=3)
    assert video.duration == pytest.approx(3.0, abs=0.1)
    assert [still.at for still in video.stills] == pytest.approx([0.0, 1.5, 2.0])
    colours = [jpeg_colour(still.jpeg) for still in video.stills]
    assert [close(c, e) for c, e in zip(colours, (RED, GREEN, BLUE), strict=True)] == [True] * 3
    assert video.sound is not None
    info = audio_info(video.sound)
    assert (info["container"], info["codec"]) == ("ogg", "opus")
    assert info["seconds"] == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize(
    ("frames", "times"), [(1, [0.0]), (2, [0.0, 2.0]), (4, [0.0, 1.0, 1.5, 2.0])]
)
def test_the_number_of_stills_follows_the_setting(frames: int, times: list[float]) -> None:
    video = extract_video(make_video(seconds=3.0), frames=frames)
    assert [still.at for still in video.stills] == pytest.approx(times)


def test_a_still_video_gives_no_scene_change_and_no_sound_track_is_none() -> None:
    video = extract_video(make_video(colours=(GREEN,), seconds=2.0, sound=False), frames=3)
    assert [still.at for still in video.stills] == pytest.approx([0.0, 1.0])
    assert video.sound is None


def test_stills_are_scaled_down() -> None:
    video = extract_video(make_video(size=(1280, 720), seconds=1.0, fps=5), frames=1)
    with av.open(io.BytesIO(video.stills[0].jpeg), mode="r", format="jpeg_pipe") as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == (STILL_MAX_SIDE, 432)


@pytest.mark.parametrize(
    ("rotation", "size", "first", "second"),
    [
        (0, (160, 120), RED, GREEN),  # left red, right green, as recorded
        (90, (120, 160), GREEN, RED),  # turned counterclockwise: green on top
        (-90, (120, 160), RED, GREEN),  # turned clockwise: red on top (an iPhone portrait)
        (180, (160, 120), GREEN, RED),  # upside down: green on the left
    ],
)
def test_a_sideways_recording_is_shown_upright(
    rotation: int, size: tuple[int, int], first: tuple[int, int, int],
    second: tuple[int, int, int],
) -> None:
    data = make_video(halves=(RED, GREEN), seconds=1.0, sound=False, rotation=rotation)
    (still,) = extract_video(data, frames=1).stills
    assert jpeg_size(still.jpeg) == size
    grid = jpeg_grid(still.jpeg, 4, 4)
    assert close(grid[0], first) and close(grid[-1], second)  # top left, bottom right


def test_a_long_video_is_decoded_at_key_frames_only() -> None:
    fps = 25
    seconds = FULL_DECODE_FRAMES / fps + 6
    video = extract_video(make_video(seconds=seconds, fps=fps, sound=False), frames=3)
    assert all(still.at == int(still.at) for still in video.stills)  # key frames: every second
    assert video.stills[0].at == 0.0


def test_a_video_over_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(VideoTooLong) as refused:
        extract_video(make_video(seconds=3.0), max_seconds=2.0)
    assert refused.value.seconds == pytest.approx(3.0, abs=0.1) and refused.value.limit == 2.0


def test_a_video_whose_container_gives_no_duration_is_measured() -> None:
    data = make_video(seconds=3.0, container="h264", sound=False)  # a raw stream: no duration
    with pytest.raises(VideoTooLong):
        extract_video(data, max_seconds=2.0)
    assert len(extract_video(data, max_seconds=10.0).stills) == 3


def test_a_broken_file_raises() -> None:
    with pytest.raises((av.FFmpegError, EmptyVideo)):
        extract_video(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16)
