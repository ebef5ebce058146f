"""What a person of the sales team does to a conversation, whether through the admin API or the
console: take it over, write to the lead as the business, give it back to the bot, close the
lead as won or lost, erase the contact. One function each, so both doors do the same thing.

Errors are the store's and the channel's own (`ContactNotFound`, `LeadNotFound`,
`ChannelError`); each door turns them into its answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from integrations.leads import ContactNotFound

if TYPE_CHECKING:
    from integrations.leads.records import Outcome
    from pipeline.wiring import Pipeline

__all__ = ["close_lead", "erase_contact", "release_to_bot", "reply_as_business", "take_over"]

log = logging.getLogger(__name__)


async def take_over(pipeline: Pipeline, channel: str, number: str) -> None:
    """A person takes the conversation: the bot records what the lead writes and stays silent
    until the person releases it (or is idle for `HUMAN_IDLE_HOURS`)."""
    await pipeline.store.contacts.touch_human(channel, number)


async def reply_as_business(
    pipeline: Pipeline, channel: str, number: str, text: str, *, sent_by: str
) -> list[str]:
    """Send `text` to the contact through its channel and record it as the team's (`sent_by`
    names who wrote it); the bot stays silent while a person talks. Returns the message ids.

    Raises `ContactNotFound` for an unknown contact, `ChannelError` when WhatsApp refuses."""
    contact = await pipeline.store.contacts.get_contact(channel, number)
    if contact is None:
        raise ContactNotFound(f"no {channel} contact with that number")
    ids = await pipeline.channels.send_text(channel, contact.address or number, text)
    await pipeline.store.contacts.record_outbound(
        channel, number, text, author="human", message_ids=ids, details={"sent_by": sent_by}
    )
    return ids


async def release_to_bot(pipeline: Pipeline, channel: str, number: str) -> bool:
    """Give the contact back to the bot, which learns what the person wrote so it does not ask
    again; returns whether a person had it. Raises `ContactNotFound`."""
    notes = await pipeline.store.contacts.human_notes(channel, number)
    was_human = await pipeline.store.contacts.release(channel, number)
    if was_human or notes:  # a stretch to remember (a person may have written without a handoff)
        await pipeline.engine.release_to_bot(f"{channel}:{number}", human_notes=notes or None)
    return was_human


async def close_lead(pipeline: Pipeline, lead_id: int, outcome: Outcome) -> None:
    """Close the lead as won or lost. Raises `LeadNotFound`."""
    await pipeline.store.leads.set_outcome(lead_id, outcome)
    pipeline.outbox.wake()  # its CRM event, now rather than at the next poll


async def erase_contact(pipeline: Pipeline, channel: str, number: str) -> bool:
    """Erase the contact everywhere (`pipeline.erasure`); returns whether it existed. Raises
    `CalendarError` when the calendar could not be reached (nothing in Postgres is erased then:
    repeat the request)."""
    existed = await pipeline.erasure.erase(channel, number)
    pipeline.outbox.wake()  # `contact.erased` for the CRM
    return existed
