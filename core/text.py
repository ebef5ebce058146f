"""Untrusted text made safe for where it goes: storable (no lone surrogates) and one line.

What a lead writes reaches Redis, Postgres, prompts and the manager's email. Redis and Postgres
refuse a lone surrogate (a `\\ud800` escape without its pair, or its raw UTF-8 bytes), and a
line break in a name or company would start a line of its own in a plain-text email ("Bcc: ...").
Both are fixed where the text enters or leaves, with these two functions.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["one_line", "without_lone_surrogates"]

# Control, format, line and paragraph separators, surrogates, private use, unassigned.
_NOT_PRINTED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_SPACES = re.compile(r"\s+")


def without_lone_surrogates(value: Any) -> Any:
    """`value` (a string, or lists and dicts of them) with every lone surrogate replaced by
    U+FFFD; a valid surrogate pair (an emoji from a JSON escape) is kept as its character."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            without_lone_surrogates(key): without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def one_line(value: str | None, *, limit: int) -> str:
    """`value` on one line: control and line-break characters become spaces, runs of whitespace
    one space, and the result is cut at `limit` characters ("" for None)."""
    if not value:
        return ""
    cleaned = "".join(
        " " if unicodedata.category(char) in _NOT_PRINTED else char for char in value
    )
    return _SPACES.sub(" ", cleaned).strip()[:limit].rstrip()
