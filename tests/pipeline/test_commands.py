"""Commands and the pipeline's language: the words are the catalogue's, so the parser agrees
with the graph's keyword net (`/humano` hands off in both) and a language file brings its own."""

from __future__ import annotations

from typing import get_args

import pytest

from agents.intents import person_request
from domain.language import COMMANDS
from domain.texts import LANGUAGES, words
from pipeline.commands import Command, command_language, parse_command


def test_the_command_type_is_the_catalogues_list() -> None:
    assert get_args(Command) == COMMANDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", "help"), ("/ayuda", "help"), ("/ajuda", "help"), ("/aide", "help"),
        ("/hilfe", "help"), ("/aiuto", "help"), ("/reset", "reset"),
        ("/human", "human"), ("/HUMANO", "human"), ("/humain.", "human"), ("/mensch", "human"),
        ("/umano", "human"), ("STOP", "stop"), ("baja", "stop"), ("parar!", "stop"),
        ("arrêt", "stop"), ("Arret", "stop"), ("abmelden", "stop"), ("/start", "start"),
        ("start", "start"), ("stop please", None), ("/humans", None), ("", None), (None, None),
    ],
)
def test_parse_command(text: str | None, expected: str | None) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_human_command_hands_off_in_the_graph_too(language: str) -> None:
    for word in words("command_words.human", language):
        assert parse_command(word) == "human"
        assert person_request([word]) == "certain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("baja", "es"), ("parar", "pt"), ("/aide", "fr"), ("/hilfe", "de"), ("/aiuto", "it"),
     ("STOP", "en"), ("/humano", "en"), ("Bonjour, je voudrais un devis", "fr")],
)
def test_command_language(text: str, expected: str) -> None:
    assert command_language(text) == expected


def test_command_language_falls_back_on_the_numbers_then_english() -> None:
    assert command_language("/humano", "pt") == "pt"  # Spanish and Portuguese share it
    assert command_language("baja", "pt") == "es"  # the text says: it wins
    assert command_language("ok", None) == "en"
