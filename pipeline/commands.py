"""Commands a contact can send, recognised before the graph runs, and the language of the
pipeline's own texts (pure)."""

from __future__ import annotations

from typing import Literal

from domain.language import detect_language

__all__ = ["Command", "command_language", "parse_command"]

Command = Literal["help", "reset", "human", "stop", "start"]

# WhatsApp's opt-out words as people type them, besides the slash commands.
_WORDS: dict[str, Command] = {
    "/help": "help",
    "/ayuda": "help",
    "/ajuda": "help",
    "/reset": "reset",
    "/human": "human",
    "/humano": "human",
    "/stop": "stop",
    "stop": "stop",
    "baja": "stop",
    "parar": "stop",
    "unsubscribe": "stop",
    "/start": "start",
    "start": "start",
}

# Opt-out words that name their language, which the word-frequency rule cannot know.
_COMMAND_LANGUAGE = {"baja": "es", "parar": "pt"}


def parse_command(text: str | None) -> Command | None:
    """The command a message is, if the whole message is one (case and spaces ignored)."""
    if not text:
        return None
    return _WORDS.get(text.strip().lower().rstrip(".!"))


def command_language(text: str, default: str = "en") -> str:
    """The lead's language from common words (`domain.language`) or a command word, else
    `default`: the language of the pipeline's own texts (commands, the apology)."""
    if language := detect_language(text):
        return language
    words = (word.strip(".!") for word in text.casefold().split())
    return next((_COMMAND_LANGUAGE[w] for w in words if w in _COMMAND_LANGUAGE), default)
