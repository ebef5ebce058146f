"""The catalogue (`domain.texts`): every language file has every key of `en.toml` with the same
placeholders, so a text can never be missing or break `format` in one language; the word lists
the nets and the detector read are well formed."""

from __future__ import annotations

import re
import string

import pytest

from domain.language import COMMANDS
from domain.texts import DEFAULT_LANGUAGE, LANGUAGES, catalogue, supported, text, words


def placeholders(value: str | list[str]) -> set[str]:
    if isinstance(value, list):
        return set()
    return {name for _, name, _, _ in string.Formatter().parse(value) if name}


def test_the_languages_of_issue_14_are_there() -> None:
    assert {"en", "es", "pt", "fr", "de", "it"} <= set(LANGUAGES)
    assert LANGUAGES[0] == DEFAULT_LANGUAGE


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_and_placeholders_as_english(language: str) -> None:
    english, other = catalogue()[DEFAULT_LANGUAGE], catalogue()[language]
    assert set(other) == set(english)
    for key, value in english.items():
        assert type(other[key]) is type(value), key
        if key.startswith("intents."):
            continue  # expressions: `{name}` inserts another key, checked below
        assert placeholders(other[key]) == placeholders(value), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_lists_have_their_length(language: str) -> None:
    assert len(words("slots.days", language)) == 7
    assert len(words("slots.months", language)) == 12
    assert words("language.words", language)
    assert words("intents.certain", language)
    for command in COMMANDS:
        assert isinstance(words(f"command_words.{command}", language), list)


@pytest.mark.parametrize("language", LANGUAGES)
def test_intents_compile(language: str) -> None:
    """Every expression compiles, and `{name}` names a key of the table (a typo would match the
    text "{persn}" instead)."""
    table = {key.removeprefix("intents."): value for key, value in catalogue()[language].items()
             if key.startswith("intents.")}
    for key, value in table.items():
        for pattern in value if isinstance(value, list) else [value]:
            if key == "fillers":
                continue
            for name in re.findall(r"\{([a-z_]+)\}", pattern):
                assert name in table, f"intents.{key} names {{{name}}}"
            re.compile(re.sub(r"\{[a-z_]+\}", "x", pattern))


def test_texts_format_in_every_language() -> None:
    for language in LANGUAGES:
        assert "Ana" in text("greeting.hello", language, name=" Ana")
        body = text("invitation.body", language, subject="S", file="invite.ics")
        assert body.startswith("S\n\n") and "invite.ics" in body


def test_unsupported_language_is_english() -> None:
    assert supported("xx") == "en" and supported("fr-CA") == "fr" and supported(None) == "en"
    assert text("handoff.requested", "xx") == text("handoff.requested", "en")
