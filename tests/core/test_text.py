from __future__ import annotations

from core.text import one_line, without_lone_surrogates


def test_one_line_turns_every_line_break_and_control_into_one_space() -> None:
    text = "Ana\r\nBcc: x@y.z\u2028Co\u0085\x0bLtd\x00"
    assert one_line(text, limit=100) == "Ana Bcc: x@y.z Co Ltd"
    assert one_line("  x  " * 50, limit=10) == "x x x x x"
    assert one_line(None, limit=5) == ""


def test_lone_surrogates_are_replaced_everywhere_and_pairs_are_kept() -> None:
    value = {"k\udfff": ["a\ud800b", {"n": 1}], "emoji": "\ud83d\ude00"}
    assert without_lone_surrogates(value) == {
        "k\ufffd": ["a\ufffdb", {"n": 1}], "emoji": "\U0001f600",
    }
