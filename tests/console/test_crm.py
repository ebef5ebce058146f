"""The console's CRM page: per receiver what was delivered, what waits and why, after a real
conversation through the app with one healthy and one failing receiver."""

from __future__ import annotations

import html
import re
from typing import Any

from integrations.crm import destination_name
from tests.console.test_auth import AGENT, console_settings, hand_over
from tests.utils.console import add_user, signed_in
from tests.utils.crm_receiver import SECRET, CrmReceiver
from tests.utils.e2e import StandIns, running, wait_until


def table(page: str, table_id: str) -> list[list[str]]:
    """The body rows of the table `table_id`, as the text of their cells."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, f"no table {table_id}"
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
         for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


async def test_the_crm_page_shows_what_each_receiver_got_and_what_waits(
    app_client: Any, make_settings: Any, stand_ins: StandIns, receiver: CrmReceiver
) -> None:
    up, down = receiver.endpoint("/up"), receiver.endpoint("/down?token=s3cret-in-the-url")
    receiver.fail("/down", 1000, status=503)
    settings = console_settings(
        make_settings, stand_ins, CRM_WEBHOOK_URLS=[up, down], CRM_WEBHOOK_SECRET=SECRET
    )
    async with running(app_client, settings, stand_ins) as e2e:
        await hand_over(e2e)  # lead.created and lead.handed_off, to each receiver
        await wait_until(lambda: len(receiver.accepted("/up")) == 2, what="the healthy receiver")
        await wait_until(
            lambda: len(receiver.deliveries("/down")) >= 1, what="a refused delivery"
        )
        agent = await signed_in(e2e.app, AGENT, await add_user(e2e.app, email=AGENT, role="agent"))

        async def page(path: str) -> str:
            async def failed_once() -> bool:
                return bool(await e2e.fetchval(
                    "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL"
                ))

            await wait_until(failed_once, what="the refusal recorded")
            response = await agent.get(path)
            assert response.status_code == 200
            return response.text

        everything = await page("/console/crm")
        waiting_only = await page("/console/crm?waiting=true")
        await agent.aclose()

    assert "s3cret-in-the-url" not in everything  # a receiver is named by host and hash
    by_name = {row[0]: row[1:4] for row in table(everything, "destinations")}
    assert by_name[destination_name(up)] == ["2", "0", "0"]  # delivered, waiting, failing
    assert by_name[destination_name(down)] == ["0", "2", "1"]  # in order: the second waits
    waiting = table(waiting_only, "events")
    assert {row[1] for row in waiting} == {destination_name(down)}
    assert sorted(row[2] for row in waiting) == ["lead.created", "lead.handed_off"]
    refused = next(row for row in waiting if row[2] == "lead.created")
    assert refused[4] == "waiting" and f"{destination_name(down)} answered 503" in refused[6]


async def test_without_a_crm_the_page_says_how_to_configure_one(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        agent = await signed_in(e2e.app, AGENT, await add_user(e2e.app, email=AGENT, role="agent"))
        response = await agent.get("/console/crm")
        await agent.aclose()
    assert response.status_code == 200
    assert "No CRM is configured" in response.text and "CRM_WEBHOOK_URLS" in response.text
