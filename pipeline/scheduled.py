"""Reminders and follow-ups when they fall due: the outbox kinds that write to a lead first.

The rows are written by the lead store (`integrations.leads.schedule`, which says when) and
claimed once across processes by the outbox worker (`integrations.outbox`, which says why the
outbox rather than a job library). When one is due, `ScheduledMessages` decides from the
contact and lead as they are now:

- a reminder goes out unless the call moved or was cancelled since, has started, or the lead
  opted out; in the lead's language, with the call's time in the lead's zone;
- a follow-up goes out while the lead is still in the middle of qualification (lead `new`,
  `qualifying` or `qualified`, the bot has the conversation) and has not written since; never to
  a lead who opted out, was handed to a person, or was disqualified or set aside; at most
  `FOLLOWUP_MAX` to one quiet stretch, `FOLLOWUP_AFTER_HOURS` apart;
- nothing goes out in the lead's quiet hours (`QUIET_HOURS`, 21:00-08:00 on their clock): the
  row is due again when they end (a 1-hour reminder that would then arrive after the call
  starts is skipped).

Inside WhatsApp's 24-hour window (since the lead's last message) the text is free-form, from the
catalogue; outside it only the purpose's approved template can go (`TEMPLATE_REMINDER`,
`TEMPLATE_FOLLOWUP`), and without one the message is recorded `undeliverable` in the transcript,
where the manager sees it. Every outcome is counted in `wa_scheduled_messages_total`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from agents.scheduling.tools import lead_zone
from core.logs import mask_phone
from domain.booking import confirmed
from domain.contact import ContactMode
from domain.lead import first_name
from domain.reply import OutgoingReply
from domain.texts import text
from integrations.calendar.slots import format_slot
from integrations.leads.schedule import (
    FOLLOW_UP_KIND,
    REMINDER_KIND,
    SCHEDULED,
    FollowUpJob,
    JobSubject,
    ReminderJob,
    ScheduleStore,
)
from integrations.outbox import Handler, OutboxRow, OutboxWorker, Reschedule
from integrations.whatsapp.errors import WindowClosed

if TYPE_CHECKING:
    from integrations.leads.contacts import ContactStore
    from integrations.whatsapp.sender import Channels
    from integrations.whatsapp.templates import Purpose

__all__ = ["WINDOW", "ScheduledMessages", "quiet_until"]

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
"""WhatsApp's customer service window: free-form messages until this long after the lead's last."""
QUALIFYING = ("new", "qualifying", "qualified")
"""Lead statuses of a lead in the middle of qualification (not booked, handed over or closed)."""


def quiet_until(now: datetime, zone: ZoneInfo, quiet: tuple[time, time]) -> datetime | None:
    """When the lead's quiet hours (`quiet`: start, end on their clock; start > end wraps
    midnight) end, if `now` is inside them; None when a message may go now."""
    start, end = quiet
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = (clock >= start or clock < end) if start > end else start <= clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


class ScheduledMessages:
    """The handlers of the reminder and follow-up rows (see the module docstring)."""

    def __init__(
        self,
        *,
        channels: Channels,
        contacts: ContactStore,
        schedule: ScheduleStore,
        clock: Callable[[], datetime],
        default_timezone: str,
        quiet_hours: tuple[time, time],
        follow_up_after: timedelta,
        follow_up_max: int,
    ) -> None:
        self.channels = channels
        self.contacts = contacts
        self.schedule = schedule
        self.clock = clock
        self.default_timezone = default_timezone
        self.quiet_hours = quiet_hours
        self.follow_up_after = follow_up_after
        self.follow_up_max = follow_up_max

    def register(self, outbox: OutboxWorker) -> None:
        outbox.register(REMINDER_KIND, _counting_skips(REMINDER_KIND, self.reminder))
        outbox.register(FOLLOW_UP_KIND, _counting_skips(FOLLOW_UP_KIND, self.follow_up))

    async def reminder(self, row: OutboxRow) -> Reschedule | None:
        job = ReminderJob.from_json(row.payload)
        now = self.clock()
        subject = await self.schedule.subject(job.contact_id)
        booking = subject.booking if subject is not None else None
        if subject is None or booking is None or not confirmed(booking):
            raise _Skip("cancelled")
        if booking.start != job.start:
            raise _Skip("moved")
        if now >= booking.start:
            raise _Skip("past")
        if await self._mode(subject) is ContactMode.OPTED_OUT:
            raise _Skip("opted_out")
        zone = self._zone(subject)
        if (later := quiet_until(now, zone, self.quiet_hours)) is not None:
            if later >= booking.start:
                raise _Skip("quiet_hours")
            return _deferred(REMINDER_KIND, later)
        when = format_slot(booking.slot, zone.key, subject.language)
        words = text(f"reminder.{job.name}", subject.language, slot=when)
        if booking.link:
            words = f"{words}\n{booking.link}"
        await self._send(subject, REMINDER_KIND, "reminder", words, now=now, when=when)
        return None

    async def follow_up(self, row: OutboxRow) -> Reschedule | None:
        job = FollowUpJob.from_json(row.payload)
        now = self.clock()
        subject = await self.schedule.subject(job.contact_id)
        if subject is None:
            raise _Skip("erased")
        if subject.last_inbound_at is not None and subject.last_inbound_at > job.since:
            raise _Skip("answered")
        mode = await self._mode(subject)
        if mode is ContactMode.OPTED_OUT:
            raise _Skip("opted_out")
        if mode.silenced or subject.status == "handed_off":
            raise _Skip("handed_over")
        if subject.status not in QUALIFYING:
            raise _Skip(f"lead_{subject.status or 'closed'}")
        if job.sent >= self.follow_up_max:
            raise _Skip("max_sent")
        if (later := quiet_until(now, self._zone(subject), self.quiet_hours)) is not None:
            return _deferred(FOLLOW_UP_KIND, later)
        called = first_name(subject.name)
        name = f" {called}" if called else ""
        words = text("follow_up.nudge", subject.language, name=name)
        await self._send(subject, FOLLOW_UP_KIND, "followup", words, now=now)
        sent = job.sent + 1
        if sent >= self.follow_up_max:
            return None
        nxt = FollowUpJob(contact_id=job.contact_id, since=job.since, sent=sent)
        return Reschedule(at=now + self.follow_up_after, payload=nxt.to_json())

    async def _send(
        self,
        subject: JobSubject,
        kind: str,
        purpose: Purpose,
        words: str,
        *,
        now: datetime,
        when: str | None = None,
    ) -> None:
        """Free-form inside the window (the provider's refusal for the window still falls back
        on the template, in `Channels.send`), the template outside it; recorded either way."""
        channel, number, language = subject.channel, subject.number, subject.language
        to = subject.address or number  # the provider's own form of it (a Mexican mobile's)
        inside = subject.last_inbound_at is not None and now - subject.last_inbound_at < WINDOW
        try:
            if inside:
                ids = await self.channels.send(
                    channel, to, OutgoingReply(text=words), language=language,
                    purpose=purpose, when=when,
                )
                said = words
            else:
                template = self.channels.template(purpose, language, channel, when=when)
                if template is None:
                    raise WindowClosed(f"no {purpose} template is configured for {channel}")
                ids = await self.channels.send_template(channel, to, template)
                said = f"[{template.ref}: {' | '.join(template.variables)}]"
        except WindowClosed:
            log.warning(
                "%s to %s not sent: the 24-hour window has closed and no template is set",
                kind, mask_phone(number),
            )
            await self.contacts.record_outbound(channel, number, words, kind="undeliverable")
            SCHEDULED.labels(kind=kind, outcome="skipped", reason="window_closed").inc()
            return
        await self.contacts.record_outbound(channel, number, said, message_ids=ids, kind=kind)
        SCHEDULED.labels(kind=kind, outcome="sent", reason="").inc()
        log.info("%s sent to %s (%s)", kind, mask_phone(number), "free" if inside else "template")

    async def _mode(self, subject: JobSubject) -> ContactMode:
        return await self.contacts.mode(subject.channel, subject.number, now=self.clock())

    def _zone(self, subject: JobSubject) -> ZoneInfo:
        return lead_zone(subject.timezone, subject.number, self.default_timezone)


class _Skip(Exception):
    """A due row that no longer applies: nothing is sent, the row is done."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _counting_skips(kind: str, handler: Handler) -> Handler:
    """`handler`, with its `_Skip` counted and logged as the row's end."""

    async def run(row: OutboxRow) -> Reschedule | None:
        try:
            return await handler(row)
        except _Skip as skip:
            SCHEDULED.labels(kind=kind, outcome="skipped", reason=skip.reason).inc()
            log.info("%s (outbox row %s) skipped: %s", kind, row.id, skip.reason)
            return None

    return run


def _deferred(kind: str, until: datetime) -> Reschedule:
    SCHEDULED.labels(kind=kind, outcome="deferred", reason="quiet_hours").inc()
    return Reschedule(at=until)
