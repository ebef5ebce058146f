"""A lead's way from the first message to a booked call to won, told to the lead store as the
graph and the manager tell it (the sink's updates and handoff, then the outcome), with the re-runs
a real pipeline makes. The lead event tests and the CRM delivery tests share it."""

from __future__ import annotations

from dataclasses import replace

from domain.events import HandoffEvent, LeadUpdate
from domain.lead import LeadProfile, Need, Qualification
from integrations.leads import LeadStore
from tests.integrations.leads.conftest import booking, handoff_event, lead_update, profile

__all__ = ["JOURNEY_EVENTS", "first_message_to_won"]

JOURNEY_EVENTS = [
    "lead.created", "lead.updated", "lead.updated", "call.booked", "lead.handed_off", "lead.won",
]
"""The events of `first_message_to_won`, in order."""


async def first_message_to_won(store: LeadStore) -> int:
    """Run the journey; returns the lead's id."""
    updates: list[LeadUpdate] = [
        lead_update("greeting", lead=LeadProfile()),  # the first message: lead.created
        lead_update(lead=LeadProfile(name="Ana", need=Need(words="un CRM"))),  # lead.updated
        replace(  # full BANT and a score: lead.updated
            lead_update(),
            qualification=Qualification(score=85, fit="qualified", reasons=("budget fits",)),
        ),
    ]
    for update in updates:
        await store.sink.lead_updated(update)
        await store.sink.lead_updated(update)  # a re-run burst: nothing new
    booked = replace(updates[-1], stage="scheduling", booking=booking())
    handoff: HandoffEvent = replace(handoff_event("booked", lead=profile()), qualification=None)
    for _ in range(2):  # the turn that books the call, and its re-run
        await store.sink.lead_updated(booked)  # call.booked
        await store.sink.handed_off(handoff)  # lead.handed_off (reason booked)
    lead_id = (await store.leads.list_leads())[0].id
    await store.leads.set_outcome(lead_id, "won")  # lead.won
    await store.leads.set_outcome(lead_id, "won")  # a double click: nothing new
    return lead_id
