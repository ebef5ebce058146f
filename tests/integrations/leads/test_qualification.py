"""The lead's score and fit in the store and in the manager's mail: stored with the lead, shown in
the quote request, and a lead to nurture gets the manager's short digest (once) instead."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from domain.lead import Qualification
from integrations.leads import LeadStore
from integrations.outbox import OutboxWorker
from tests.integrations.leads.conftest import (
    MANAGER,
    RecordingHandler,
    count,
    handoff_event,
    lead_update,
    parts,
)

NURTURE = Qualification(
    score=70, fit="nurture",
    reasons=("need stated", "budget 1,000 USD under the minimum 3,000 USD"),
)
QUALIFIED = Qualification(score=100, fit="qualified", reasons=("need stated", "decides"))


async def test_a_lead_to_nurture_is_stored_so_and_the_manager_gets_one_digest(
    store: LeadStore, worker: OutboxWorker, db: asyncpg.Pool,
    smtp_server: tuple[RecordingHandler, int],
) -> None:
    update = replace(lead_update("closed"), qualification=NURTURE)
    await store.sink.lead_updated(update)
    await store.sink.lead_updated(update)  # a re-run: still one digest
    (lead,) = await store.leads.list_leads()
    assert lead.status == "nurture"
    assert lead.qualification == NURTURE
    assert await count(db, "outbox") == 1
    assert await worker.run_once() == 1
    (received,) = smtp_server[0].received
    message = received.message
    assert received.rcpt_tos == [MANAGER]
    assert message["Subject"] == "To nurture: Ana Pérez (Acme SL), score 70"
    body = message.get_content()
    assert "budget 1,000 USD under the minimum 3,000 USD" in body
    assert "https://wa.me/34600111222" in body
    assert message.get_body(("html",)) is None  # a short plain-text note


async def test_the_quote_request_shows_the_score_and_its_reasons(
    store: LeadStore, worker: OutboxWorker, smtp_server: tuple[RecordingHandler, int],
) -> None:
    await store.sink.handed_off(replace(handoff_event("requested"), qualification=QUALIFIED))
    (lead,) = await store.leads.list_leads()
    assert lead.qualification is not None and lead.qualification.score == 100
    assert await worker.run_once() == 1
    plain, html = parts(smtp_server[0].received[0].message)
    assert "Score: 100/100 (qualified)" in plain and "Why: need stated; decides" in plain
    assert "Score: 100/100 (qualified)" in html


async def test_a_fit_can_change_but_never_moves_a_booked_lead_back(store: LeadStore) -> None:
    await store.sink.lead_updated(replace(lead_update(), qualification=NURTURE))
    await store.sink.lead_updated(replace(lead_update("scheduling"), qualification=QUALIFIED))
    assert [lead.status for lead in await store.leads.list_leads()] == ["qualified"]
    await store.sink.handed_off(handoff_event("booked"))
    await store.sink.lead_updated(replace(lead_update(), qualification=NURTURE))
    assert [lead.status for lead in await store.leads.list_leads()] == ["booked"]
