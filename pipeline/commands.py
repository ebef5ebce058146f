"""Commands a contact can send, recognised before the graph runs, and the language of the
pipeline's own texts (pure).

The words are the catalogue's (`[command_words]` of each language file, read by
`domain.language`), so the graph's keyword net (`agents.intents`: `/humano` hands off there too)
and this parser agree, and a new language file brings its own commands.
"""

from __future__ import annotations

from typing import Literal, cast

from domain.language import command_word, detect_language
from domain.texts import DEFAULT_LANGUAGE

__all__ = ["Command", "command_language", "parse_command"]

Command = Literal["help", "reset", "human", "stop", "start"]
"""`domain.language.COMMANDS`, as a type."""


def parse_command(text: str | None) -> Command | None:
    """The command a message is, if the whole message is one (case, accents and a final `.` or
    `!` ignored): `/human`, `/humain`, `STOP`, `baja`..."""
    word = command_word(text)
    return cast("Command", word.command) if word is not None else None


def command_language(text: str, default: str | None = None) -> str:
    """The lead's language from what they wrote (`domain.language.detect_language`, which also
    knows the command words only one language has, such as `baja`), else `default` (the
    number's language, `domain.language.number_language`), else English: the language of the
    pipeline's own texts (commands, the apology)."""
    return detect_language(text) or default or DEFAULT_LANGUAGE
