"""The process that dies in "killed between the change and the delivery": `python -m
tests.utils.crm_change_process '<json>'` records a lead change (the lead row and its event, one
transaction), claims the event's outbox row as its worker would, prints `committed`, and waits to
be killed before it sends anything."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

import httpx

from core.connections import open_pool
from integrations.crm import CrmDelivery, WebhookClient
from integrations.leads import LeadStore
from integrations.outbox import CLAIM_DUE
from tests.integrations.leads.conftest import Clock, lead_update
from tests.utils.crm_receiver import SECRET


async def main(args: dict[str, str]) -> None:
    pool = await open_pool(args["database_url"], server_settings={"search_path": args["schema"]})
    async with httpx.AsyncClient() as http:
        crm = CrmDelivery(webhooks=WebhookClient([args["url"]], SECRET, http=http))
        store = LeadStore.open(pool, clock=Clock(), event_destinations=crm.destinations)
        await store.sink.lead_updated(lead_update())
        async with pool.acquire() as conn:  # the worker takes the row (a 1 s claim)...
            claimed = await conn.fetch(CLAIM_DUE, 10, 1.0, datetime.now(UTC), [])
        print(f"committed {len(claimed)}", flush=True)  # noqa: T201 - the test reads it
        await asyncio.Event().wait()  # ...and the process dies before it sends


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
