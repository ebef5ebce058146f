"""Lead events into HubSpot through the real `hubspot-api-client`, against a local stand-in that
records the calls: create, update, no duplicate on retry, 429 then success, 401."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from integrations.crm import HUBSPOT_KIND, CrmDelivery, HubSpotClient, hubspot_api
from integrations.leads import LeadStore
from integrations.outbox import OutboxWorker
from tests.integrations.crm.conftest import crm_store, crm_worker, drain, pending
from tests.integrations.leads.conftest import NUMBER, Clock, lead_update, profile
from tests.utils.fake_hubspot import ACCESS_TOKEN, FakeHubSpot
from tests.utils.lead_journey import first_message_to_won


@pytest.fixture(scope="module")
def hubspot_server() -> Iterator[FakeHubSpot]:
    server = FakeHubSpot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hubspot(hubspot_server: FakeHubSpot) -> Iterator[FakeHubSpot]:
    """The stand-in, emptied for this test."""
    hubspot_server.reset()
    yield hubspot_server


def delivery(server: FakeHubSpot, token: str = ACCESS_TOKEN) -> CrmDelivery:
    api = hubspot_api(token, host=server.url + "/")
    return CrmDelivery(hubspot=HubSpotClient(api, timeout_seconds=10))


def setup(
    db: asyncpg.Pool, clock: Clock, server: FakeHubSpot, tmp_path: Path, **options: Any
) -> tuple[LeadStore, OutboxWorker]:
    crm = delivery(server, **options)
    return crm_store(db, clock, crm), crm_worker(db, crm, tmp_path)


def calls(server: FakeHubSpot) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in server.requests]


async def test_a_new_lead_becomes_a_contact_and_a_deal_that_follow_it_to_won(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    store, worker = setup(db, clock, hubspot, tmp_path)
    await store.sink.lead_updated(lead_update("greeting", lead=profile(
        need=None, budget=None, authority=None, timeline=None, company=None, email=None,
    )))
    await drain(worker, db)
    assert calls(hubspot) == [
        ("POST", "/crm/v3/objects/contacts/search", 200),
        ("POST", "/crm/v3/objects/contacts/batch/upsert", 200),
        ("POST", "/crm/v3/objects/deals/batch/upsert", 200),
        ("PUT", f"/crm/v4/objects/deals/{hubspot.objects('deals')[0]['id']}/associations/default"
                f"/contacts/{hubspot.objects('contacts')[0]['id']}", 200),
    ]
    [contact] = hubspot.objects("contacts")
    assert contact["properties"] == {
        "firstname": "Ana", "lastname": "Pérez", "phone": NUMBER, "wa_contact_id": f"meta:{NUMBER}",
    }
    [deal] = hubspot.objects("deals")
    assert deal["properties"]["dealstage"] == "appointmentscheduled"
    assert deal["properties"]["wa_status"] == "new" and deal["properties"]["pipeline"] == "default"

    lead_id = await first_message_to_won(store)
    await drain(worker, db)
    assert len(hubspot.objects("contacts")) == 1 and len(hubspot.objects("deals")) == 1
    [deal] = hubspot.objects("deals")
    assert deal["properties"] == {
        "dealname": "Ana Pérez (Acme SL)",
        "pipeline": "default",
        "dealstage": "closedwon",
        "amount": "5000.0",
        "description": "Ana wants a CRM for her 20 sales reps before April.",
        "wa_lead_id": str(lead_id),
        "wa_status": "won",
        "wa_score": "85",
        "wa_need": "CRM for 20 sales reps",
        "wa_budget": "5000.0 EUR (unos 5000 euros)",
        "wa_authority": "CTO decides (yo decido, soy la CTO)",
        "wa_timeline": "2030-04-01 (antes de abril)",
    }
    [contact] = hubspot.objects("contacts")
    assert contact["properties"]["email"] == "ana@acme.example"  # filled in once known
    assert contact["properties"]["company"] == "Acme SL"
    [note] = hubspot.objects("notes")
    assert note["properties"]["hs_note_body"] == (
        "Handed over to the team: a call was booked. Call booked: 2030-03-05T09:00:00+00:00 to "
        "2030-03-05T09:30:00+00:00 https://calendar.example/evt-123."
    )
    assert ("notes", note["id"], "contacts", contact["id"]) in hubspot.associations
    assert ("notes", note["id"], "deals", deal["id"]) in hubspot.associations
    assert ("deals", deal["id"], "contacts", contact["id"]) in hubspot.associations


async def test_a_contact_the_team_has_is_found_by_phone_and_not_overwritten(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    known = hubspot.add_contact(firstname="Ana", lastname="Pérez García", phone=NUMBER)
    store, worker = setup(db, clock, hubspot, tmp_path)
    await store.sink.lead_updated(lead_update())
    await drain(worker, db)

    [contact] = hubspot.objects("contacts")
    assert contact["id"] == known
    assert contact["properties"] == {
        "firstname": "Ana", "lastname": "Pérez García", "phone": NUMBER,  # the team's, kept
        "email": "ana@acme.example", "company": "Acme SL", "wa_contact_id": f"meta:{NUMBER}",
    }
    patch = [r for r in hubspot.requests if r.method == "PATCH"]
    assert [r.path for r in patch] == [f"/crm/v3/objects/contacts/{known}"]
    # The next event finds it by our key and changes nothing of it.
    await store.sink.lead_updated(lead_update("scheduling", lead=profile(name="Ana P.")))
    await drain(worker, db)
    assert len([r for r in hubspot.requests if r.method == "PATCH"]) == 1


async def test_answers_lost_after_the_writes_make_no_second_contact_or_deal(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    store, worker = setup(db, clock, hubspot, tmp_path)
    hubspot.search_lag = 1  # the next search does not see the contact created before it
    hubspot.fail(500, path="contacts/batch/upsert", after=True)  # created, answer lost
    hubspot.fail(502, path="deals/batch/upsert", after=True)
    hubspot.fail(500, path="/associations/", after=True)
    await store.sink.lead_updated(lead_update())

    assert await drain(worker, db) == 4  # three failures, then through
    assert len(hubspot.objects("contacts")) == 1
    assert len(hubspot.objects("deals")) == 1
    upserts = [r for r in hubspot.requests if r.path.endswith("/batch/upsert")]
    assert [(r.path, r.status) for r in upserts] == [
        ("/crm/v3/objects/contacts/batch/upsert", 500),
        ("/crm/v3/objects/contacts/batch/upsert", 200),  # the search lagged; the key did not
        ("/crm/v3/objects/deals/batch/upsert", 502),
        ("/crm/v3/objects/deals/batch/upsert", 200),
        ("/crm/v3/objects/deals/batch/upsert", 200),
    ]


async def test_a_429_is_retried_then_goes_through(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    store, worker = setup(db, clock, hubspot, tmp_path)
    hubspot.fail(429, path="contacts/search")
    await store.sink.lead_updated(lead_update())

    assert await worker.run_once() == 0
    async with db.acquire() as conn:
        error = await conn.fetchval("SELECT last_error FROM outbox")
    assert error.startswith("HubSpotRateLimited: HubSpot rate limit (429)")
    assert ACCESS_TOKEN not in error
    assert await worker.run_once() == 1
    assert [c[2] for c in calls(hubspot)][:2] == [429, 200]
    assert len(hubspot.objects("deals")) == 1 and await pending(db) == 0


async def test_a_refused_token_is_reported_once_and_not_retried(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, worker = setup(db, clock, hubspot, tmp_path, token="pat-na1-revoked")
    await store.sink.lead_updated(lead_update())
    await store.sink.lead_updated(lead_update("scheduling", lead=profile(company="Acme Group")))

    with caplog.at_level("ERROR"):
        for _ in range(5):
            assert await worker.run_once() == 0
    assert calls(hubspot) == [("POST", "/crm/v3/objects/contacts/search", 401)]  # once
    assert worker.paused == {HUBSPOT_KIND}
    assert caplog.text.count("HubSpot refused the access token (401)") == 1
    assert "pat-na1-revoked" not in caplog.text
    assert await pending(db) == 2  # kept: nothing lost

    # Restarted with a valid token, the events go in.
    _, restarted = setup(db, clock, hubspot, tmp_path)
    await drain(restarted, db)
    [deal] = hubspot.objects("deals")
    assert deal["properties"]["dealname"] == "Ana Pérez (Acme Group)"


async def test_erasure_leaves_hubspot_to_the_team(
    db: asyncpg.Pool, clock: Clock, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    store, worker = setup(db, clock, hubspot, tmp_path)
    await store.sink.lead_updated(lead_update())
    await drain(worker, db)
    before = len(hubspot.requests)
    assert await store.contacts.delete_contact("meta", NUMBER)
    await drain(worker, db)
    assert len(hubspot.requests) == before
    assert len(hubspot.objects("contacts")) == 1


def test_stage_overrides_name_known_statuses(hubspot_server: FakeHubSpot) -> None:
    api = hubspot_api(ACCESS_TOKEN, host=hubspot_server.url)
    custom = HubSpotClient(api, stages={"booked": "123456"})
    assert custom._stages["booked"] == "123456" and custom._stages["won"] == "closedwon"
    with pytest.raises(ValueError, match="HUBSPOT_DEAL_STAGES names unknown statuses bookd"):
        HubSpotClient(api, stages={"bookd": "123456"})
