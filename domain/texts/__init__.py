"""The catalogue of every fixed text a lead reads: one TOML file per language, in this folder.

A language's file also holds the words a lead of that language writes, read by the rules that
recognise them: the commands (`[command_words]`, `domain.language`), the short words that
settle a language (`[language]`), and what asks for a person (`[intents]`, `agents.intents`).

Texts are looked up by a dotted key (`handoff.requested`, `ask.budget`) and formatted with named
values (`{slot}`, `{name}`). A language is supported when its file is here: adding one is adding
`xx.toml` with every key of `en.toml` (a test checks the keys and the placeholders). A language
without a file, or none, gets English.

Why TOML files and not Python dicts: a translator edits one plain file per language, and the
standard library reads it (`tomllib`), so no dependency comes with it.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "catalogue", "supported", "text", "words"]

DEFAULT_LANGUAGE = "en"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str | list[str]]:
    flat: dict[str, str | list[str]] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@functools.cache
def catalogue() -> dict[str, dict[str, str | list[str]]]:
    """Every language's texts by dotted key, read once from the TOML files."""
    texts: dict[str, dict[str, str | list[str]]] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            texts[entry.name.removesuffix(".toml")] = _flatten(tomllib.loads(entry.read_text()))
    return texts


LANGUAGES: tuple[str, ...] = tuple(
    sorted(catalogue(), key=lambda code: (code != DEFAULT_LANGUAGE, code))
)
"""The languages the catalogue has, English first."""


def supported(language: str | None) -> str:
    """`language` (an ISO 639-1 code, a region suffix ignored) if the catalogue has it, else
    English."""
    code = (language or "").strip()[:2].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def text(key: str, language: str | None, **values: str) -> str:
    """The text `key` in `language` (English when unsupported), with `values` filled in."""
    value = catalogue()[supported(language)][key]
    if not isinstance(value, str):
        raise TypeError(f"text {key!r} is a list; read it with words()")
    return value.format(**values) if values else value


def words(key: str, language: str | None) -> list[str]:
    """The list `key` (day names, month names) in `language` (English when unsupported)."""
    value = catalogue()[supported(language)][key]
    if not isinstance(value, list):
        raise TypeError(f"text {key!r} is not a list; read it with text()")
    return value
