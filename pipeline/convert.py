"""Inbound messages to the graph's input: one `HumanMessage` per provider message, in order.

The default converter turns every kind into text the agent can use; media that needs a service
(speech-to-text, vision, PDF text) is the media converter's job, which replaces this one where
configured.
"""

from __future__ import annotations

from typing import Any, Protocol

from langchain_core.messages import HumanMessage

from agents.inputs import TAP_KEY
from integrations.whatsapp.types import InboundMessage

__all__ = ["MessageConverter", "TextConverter", "describe", "human_message"]

_PLACEHOLDERS = {
    "audio": "[voice note]",
    "image": "[image]",
    "video": "[video]",
    "document": "[document]",
    "sticker": "[sticker]",
    "contacts": "[contact card]",
    "reaction": "[reaction]",
    "unsupported": "[a message type WhatsApp does not support here]",
}


def describe(message: InboundMessage) -> str:
    """A text rendering of `message` that loses nothing the lead wrote."""
    if message.kind == "location" and message.location is not None:
        loc = message.location
        label = ", ".join(part for part in (loc.name, loc.address) if part)
        text = f"[location: {loc.latitude:.6f}, {loc.longitude:.6f}" + (
            f" {label}]" if label else "]"
        )
        return text
    if message.kind in ("text", "interactive", "button"):
        return message.text or ""
    placeholder = _PLACEHOLDERS.get(message.kind, f"[{message.kind}]")
    if message.media and message.media[0].filename:
        placeholder = f"{placeholder[:-1]}: {message.media[0].filename}]"
    return f"{placeholder} {message.text}" if message.text else placeholder


def human_message(
    message: InboundMessage, content: str | list[str | dict[str, Any]]
) -> HumanMessage:
    """The graph's message for `message`: its content, its provider id, and the payload of the
    option it tapped (a button or list reply), which the agents take as the lead's choice."""
    if message.payload and message.kind in ("interactive", "button"):
        return HumanMessage(
            content=content, id=message.message_id, additional_kwargs={TAP_KEY: message.payload}
        )
    return HumanMessage(content=content, id=message.message_id)


class MessageConverter(Protocol):
    async def convert(self, messages: list[InboundMessage]) -> list[HumanMessage]: ...

    def forget_contact(self, channel: str, contact: str) -> None:
        """Drop whatever is kept of the contact's messages (a data-deletion request)."""
        ...


class TextConverter:
    """Every message as text; media named, not interpreted."""

    async def convert(self, messages: list[InboundMessage]) -> list[HumanMessage]:
        return [human_message(m, describe(m)) for m in messages]

    def forget_contact(self, channel: str, contact: str) -> None:
        return None  # keeps nothing
