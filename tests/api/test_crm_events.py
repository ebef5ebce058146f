"""Lead events through the whole app: a conversation over the webhooks, the manager's won and
erase, the app's own outbox worker posting them to a local receiver."""

from __future__ import annotations

from typing import Any

from integrations.crm import crm_deliveries
from tests.utils.crm_receiver import SECRET, CrmReceiver
from tests.utils.e2e import CONTACT, StandIns, running, settings_for, wait_until


async def test_a_conversation_won_and_erased_reaches_the_receiver_in_order(
    app_client: Any, make_settings: Any, stand_ins: StandIns, receiver: CrmReceiver
) -> None:
    settings = settings_for(
        make_settings, stand_ins, CRM_WEBHOOK_URLS=[receiver.endpoint("/crm")],
        CRM_WEBHOOK_SECRET=SECRET,
    )
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("/human")
        await e2e.wait_meta_replies(1)
        lead_id = await e2e.fetchval("SELECT id FROM leads")
        await wait_until(lambda: len(receiver.deliveries()) == 2, what="the first events")
        await e2e.admin("POST", f"/leads/{lead_id}/outcome", json={"outcome": "won"})
        await wait_until(lambda: len(receiver.deliveries()) == 3, what="lead.won")
        await e2e.admin("DELETE", f"/contacts/meta/{CONTACT}")
        await wait_until(lambda: len(receiver.deliveries()) == 4, what="contact.erased")

        status = await crm_deliveries(e2e.pool)
    assert [d.event["type"] for d in receiver.deliveries()] == [
        "lead.created", "lead.handed_off", "lead.won", "contact.erased",
    ]
    assert all(d.signature_ok and d.status == 200 for d in receiver.deliveries())
    assert receiver.deliveries()[1].event["reason"] == "requested"
    [summary] = status.destinations
    assert summary.destination.startswith("webhook:127.0.0.1:")
    assert (summary.waiting, summary.failing) == (0, 0)
    assert summary.delivered == 1  # the erased contact's rows went with it
    assert [row.type for row in status.latest] == ["contact.erased"]
