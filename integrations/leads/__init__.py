"""Leads in Postgres: contacts, leads, handoffs, transcript, human takeover (`store.py`)."""

from integrations.leads.store import (
    ContactNotFound,
    ContactState,
    HandoffRecord,
    InvalidValue,
    LeadDetail,
    LeadNotFound,
    LeadRecord,
    LeadStatus,
    LeadStore,
    LeadStoreError,
    TranscriptEntry,
    human_mode_active,
    parse_thread_id,
    status_for_update,
)

__all__ = [
    "ContactNotFound",
    "ContactState",
    "HandoffRecord",
    "InvalidValue",
    "LeadDetail",
    "LeadNotFound",
    "LeadRecord",
    "LeadStatus",
    "LeadStore",
    "LeadStoreError",
    "TranscriptEntry",
    "human_mode_active",
    "parse_thread_id",
    "status_for_update",
]
