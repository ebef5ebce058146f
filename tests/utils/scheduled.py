"""The pieces of the reminder and follow-up tests (issue #17): a clock the test moves, the real
lead store, outbox worker and scheduled-message handlers on one migrated schema, sending through
the Meta stand-in; and what the stand-in received, read back.

    parts = await scheduled_parts(pool, meta_url, clock, tmp_path)
    clock.now = due
    await parts.outbox.run_once()
    texts_to(meta, NUMBER)

Nothing sleeps: the rows are due when the clock says so (the outbox passes it to every query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from core.migrate import apply_migrations
from integrations.leads import LeadStore
from integrations.leads.schedule import ScheduleStore
from integrations.mail.mailer import FileMailer
from integrations.outbox import OutboxWorker
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels, RetryPolicy
from integrations.whatsapp.templates import TemplateBook
from pipeline.scheduled import ScheduledMessages
from tests.utils.whatsapp_stand_ins import ACCESS_TOKEN, PHONE_NUMBER_ID, MetaStandIn

__all__ = ["Clock", "Scheduled", "meta_sends", "scheduled_parts", "texts_to"]

QUIET = (datetime.strptime("21:00", "%H:%M").time(), datetime.strptime("08:00", "%H:%M").time())


class Clock:
    """The tests' "now", moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, when: datetime) -> Clock:
        self.now = when
        return self


@dataclass
class Scheduled:
    store: LeadStore
    outbox: OutboxWorker
    channels: Channels
    messages: ScheduledMessages


async def scheduled_parts(
    pool: asyncpg.Pool,
    http: aiohttp.ClientSession,
    meta_url: str,
    clock: Clock,
    tmp_path: Path,
    *,
    templates: dict[str, str] | None = None,
    follow_up_after: timedelta = timedelta(hours=4),
    follow_up_max: int = 2,
    default_timezone: str = "UTC",
) -> Scheduled:
    """The real parts on `pool` (migrated here), Meta on the stand-in at `meta_url`; templates
    by purpose (Meta names, every language)."""
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    store = LeadStore.open(
        pool, clock=clock, follow_up_after_hours=follow_up_after.total_seconds() / 3600
    )
    book = TemplateBook(
        {purpose: {"*": name} for purpose, name in (templates or {}).items()},  # type: ignore[misc]
        business="Nimbus CRM", language_codes={"en": "en_US", "es": "es"},
    )
    meta = MetaClient(
        ACCESS_TOKEN, PHONE_NUMBER_ID, graph_base=f"{meta_url}/v21.0", http=http,
        retry=RetryPolicy(attempts=1),
    )
    channels = Channels({"meta": meta}, templates=book)
    outbox = OutboxWorker(
        pool, FileMailer(tmp_path / "mail"), manager_email="manager@sales.example",
        mail_from="agent@sales.example", clock=clock, batch_size=20,
    )
    messages = ScheduledMessages(
        channels=channels, contacts=store.contacts, schedule=ScheduleStore(pool), clock=clock,
        default_timezone=default_timezone, quiet_hours=QUIET, follow_up_after=follow_up_after,
        follow_up_max=follow_up_max,
    )
    messages.register(outbox)
    return Scheduled(store=store, outbox=outbox, channels=channels, messages=messages)


def meta_sends(meta: MetaStandIn, number: str) -> list[dict[str, Any]]:
    """The message bodies Meta accepted for `number` (read receipts left out), in order."""
    return [
        r.json for r in list(meta.requests)
        if r.json and r.json.get("to", "").lstrip("+") == number.lstrip("+")
        and r.json.get("type") in ("text", "interactive", "template")
    ]


def texts_to(meta: MetaStandIn, number: str) -> list[str]:
    """What `number` was sent, as text: a text's body, an interactive message's body, or
    `template:<name>:<parameters>`."""
    found = []
    for body in meta_sends(meta, number):
        if body["type"] == "text":
            found.append(body["text"]["body"])
        elif body["type"] == "interactive":
            found.append(body["interactive"]["body"]["text"])
        else:
            template = body["template"]
            values = [p["text"] for c in template.get("components", ()) for p in c["parameters"]]
            found.append(f"template:{template['name']}:{'|'.join(values)}")
    return found
