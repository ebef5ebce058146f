"""Erasing a contact on request (`DELETE /admin/contacts/{channel}/{number}`): every row, key and
file that names them, wherever the pipeline put it.

In this order, so that a failure leaves a request that can simply be repeated:

1. the buffer (waiting messages, the burst in flight and its lease): a worker busy with the
   contact fails its next step (`LeaseLost`) instead of writing the contact back afterwards;
2. the calendar: every booking of the number, past and cancelled ones too, cancelled without a
   notice and stripped of what names the lead (Google included); a calendar that cannot be
   reached stops the erasure here, before anything in Postgres is gone;
3. Postgres, in one transaction: the contact, its leads, handoffs and transcript, and every
   outbox row that names it (the invitation emails to the addresses the bookings held too);
4. the `.eml` files written for those outbox rows (`DATA_DIR/mail`, kept when SMTP is off);
5. the conversation state in Redis and this process's media cache.

Out of reach: emails already delivered to a mailbox, and the media cache of other worker
processes (in memory, gone within its TTL of ten minutes). Voice-reply audio in Redis has random
ids and expires fifteen minutes after it was made.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.logs import mask_phone
from integrations.outbox import stable_message_id

if TYPE_CHECKING:
    from integrations.calendar.base import Calendar
    from integrations.leads.contacts import ContactStore
    from integrations.mail.mailer import FileMailer
    from pipeline.buffer import BurstBuffer
    from pipeline.convert import MessageConverter
    from pipeline.processor import TurnEngine

__all__ = ["ContactEraser"]

log = logging.getLogger(__name__)


class ContactEraser:
    """Erases one contact everywhere (see the module docstring)."""

    def __init__(
        self,
        *,
        buffer: BurstBuffer,
        contacts: ContactStore,
        calendar: Calendar,
        engine: TurnEngine,
        converter: MessageConverter,
        mail_files: FileMailer,
        mail_from: str,
    ) -> None:
        """`mail_files` is where `.eml` files are written when SMTP is off (erased whatever the
        mailer is now: they may date from before SMTP was set); `mail_from` names the outbox's
        Message-IDs, hence the files."""
        self.buffer = buffer
        self.contacts = contacts
        self.calendar = calendar
        self.engine = engine
        self.converter = converter
        self.mail_files = mail_files
        self.mail_from = mail_from

    async def erase(self, channel: str, number: str) -> bool:
        """Erase the contact; whether it existed. Raises `CalendarError` when the calendar could
        not be reached (nothing in Postgres is erased then: repeat the request)."""
        thread = f"{channel}:{number}"
        await self.buffer.forget(thread)
        emails = await self.calendar.erase_attendee(number)
        erased = await self.contacts.delete_contact(channel, number, emails=emails)
        files = await self.mail_files.erase(
            [stable_message_id(row_id, key, self.mail_from) for row_id, key in erased.outbox]
        )
        await self.engine.reset(thread)
        self.converter.forget_contact(channel, number)
        log.info(
            "erased contact %s on request (%d outbox row(s), %d mail file(s))",
            mask_phone(thread), len(erased.outbox), files,
        )
        return erased.existed
