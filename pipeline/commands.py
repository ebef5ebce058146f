"""Commands a contact can send, recognised before the graph runs (pure)."""

from __future__ import annotations

from typing import Literal

__all__ = ["Command", "parse_command"]

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


def parse_command(text: str | None) -> Command | None:
    """The command a message is, if the whole message is one (case and spaces ignored)."""
    if not text:
        return None
    return _WORDS.get(text.strip().lower().rstrip(".!"))
