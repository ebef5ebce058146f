"""A worker process of the "claimed once across processes" test: `python -m
tests.utils.outbox_process '<json>'` builds its own pool, outbox worker and scheduled-message
handlers (Meta on the test's stand-in, "now" fixed by the test), says it is ready, waits for the
test's go, then delivers due rows one claim at a time until none is left, and prints how many it
delivered as JSON.

The go is a file the test creates once both processes are ready, so the two claim at the same
time; the wait for it polls a file, not the clock."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import aiohttp

from core.connections import open_pool
from integrations.leads.contacts import ContactStore
from integrations.leads.schedule import ScheduleStore
from integrations.mail.mailer import FileMailer
from integrations.outbox import OutboxWorker
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels, RetryPolicy
from pipeline.scheduled import ScheduledMessages
from tests.utils.whatsapp_stand_ins import ACCESS_TOKEN, PHONE_NUMBER_ID


async def main(args: dict[str, str]) -> int:
    now = datetime.fromisoformat(args["now"])

    def clock() -> datetime:
        return now

    folder = Path(args["folder"])
    pool = await open_pool(args["database_url"], server_settings={"search_path": args["schema"]})
    async with aiohttp.ClientSession() as http:
        channels = Channels({"meta": MetaClient(
            ACCESS_TOKEN, PHONE_NUMBER_ID, graph_base=f"{args['meta_url']}/v21.0", http=http,
            retry=RetryPolicy(attempts=1),
        )})
        contacts = ContactStore(pool, human_idle=timedelta(hours=24), clock=clock)
        outbox = OutboxWorker(
            pool, FileMailer(folder / "mail"), manager_email="manager@sales.example",
            mail_from="agent@sales.example", clock=clock, batch_size=1,
        )
        ScheduledMessages(
            channels=channels, contacts=contacts, schedule=ScheduleStore(pool), clock=clock,
            default_timezone="UTC", quiet_hours=(time(21), time(8)),
            follow_up_after=timedelta(hours=4), follow_up_max=1,
        ).register(outbox)
        (folder / f"ready-{args['name']}").touch()
        while not (folder / "go").exists():
            await asyncio.sleep(0.005)
        delivered = 0
        while claimed := await outbox.run_once():
            delivered += claimed
    await pool.close()
    print(json.dumps({"delivered": delivered}))  # noqa: T201 - the test reads it
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(json.loads(sys.argv[1]))))
