"""Leads in Postgres: contacts and their mode, leads, handoffs, the transcript (`store.LeadStore`
bundles the three roles: `sink`, `contacts`, `leads`)."""

from integrations.leads.errors import ContactNotFound, InvalidValue, LeadNotFound, LeadStoreError
from integrations.leads.mode import contact_mode, human_mode_active
from integrations.leads.records import (
    ContactRecord,
    LeadDetail,
    LeadRecord,
    LeadStatus,
    TranscriptEntry,
    parse_thread_id,
    status_for_update,
)
from integrations.leads.store import LeadStore

__all__ = [
    "ContactNotFound",
    "ContactRecord",
    "InvalidValue",
    "LeadDetail",
    "LeadNotFound",
    "LeadRecord",
    "LeadStatus",
    "LeadStore",
    "LeadStoreError",
    "TranscriptEntry",
    "contact_mode",
    "human_mode_active",
    "parse_thread_id",
    "status_for_update",
]
