"""What the lead store raises for callers to act on; a Postgres outage (OSError, asyncpg errors)
propagates untranslated, so the pipeline fails the turn and retries the burst later.

    LeadStoreError
     +-- ContactNotFound    no contact with that channel and number (admin API: 404)
     +-- LeadNotFound       no lead with that id (admin API: 404)
     +-- InvalidValue       a malformed number, status, outcome or author (also a ValueError)
"""

from __future__ import annotations

__all__ = ["ContactNotFound", "InvalidValue", "LeadNotFound", "LeadStoreError"]


class LeadStoreError(Exception):
    """A lead store operation cannot be done as asked."""


class ContactNotFound(LeadStoreError, LookupError):
    """No contact has this channel and number; it never wrote in, or it was deleted."""


class LeadNotFound(LeadStoreError, LookupError):
    """No lead has this id; it never existed or its contact was deleted."""


class InvalidValue(LeadStoreError, ValueError):
    """A value is malformed (number not E.164, unknown status/outcome/author); fix the caller."""
