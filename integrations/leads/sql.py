"""Every statement of the lead store, as named constants; values are always parameters.

Tables come from `migrations/0001_leads.sql`. The lead upsert is built once from the profile
columns (`LEAD_PROFILE_COLUMNS`), so the column list, its values (`records.lead_values`) and the
"keep what is known" rule never drift apart.
"""

from __future__ import annotations

from integrations.leads.schedule import ARM_FOLLOW_UP

__all__ = [
    "CONTACT_COLUMNS",
    "COUNT_LEADS",
    "DELETE_CONTACT",
    "DELETE_CONTACT_OUTBOX",
    "ENTER_HUMAN_MODE",
    "INSERT_HANDOFF",
    "LEAD_COLUMNS",
    "LEAD_PROFILE_COLUMNS",
    "LEAVE_HUMAN_MODE",
    "LIST_LEADS",
    "MODE_INPUTS",
    "OPEN_STATUS_RANK",
    "RECORD_INBOUND",
    "RECORD_MESSAGE",
    "RECORD_REPLY_PART",
    "RESOLVE_CONTACT_HANDOFFS",
    "RESOLVE_LEAD_HANDOFFS",
    "SELECT_CONTACT",
    "SELECT_CONTACT_FOR_UPDATE",
    "SELECT_CONTACT_LEADS_FOR_UPDATE",
    "SELECT_CONTACT_EMAILS",
    "SELECT_CONTACT_MODE",
    "SELECT_HANDOFFS",
    "SELECT_HUMAN_NOTES",
    "SELECT_LEAD",
    "SELECT_LEAD_STATUS_FOR_UPDATE",
    "SELECT_OPEN_LEAD_FOR_UPDATE",
    "SELECT_OPEN_LEAD_BOOKING",
    "SELECT_SENT_PARTS",
    "SELECT_TRANSCRIPT",
    "SET_OPT_OUT",
    "SET_OUTCOME",
    "TOUCH_HUMAN",
    "UPSERT_CONTACT",
    "UPSERT_CONTACT_AND_LEAD",
    "UPSERT_LEAD",
]

OPEN_STATUS_RANK: dict[str, int] = {
    "new": 1, "qualifying": 2, "qualified": 3, "nurture": 3, "disqualified": 3, "booked": 4,
    "handed_off": 5,
}
"""Open statuses in the order a lead update may move through them (never backwards; a lead's
fit may change between qualified, nurture and disqualified)."""

UPSERT_CONTACT = """
INSERT INTO contacts (channel, number, profile_name, language)
VALUES ($1, $2, $3, $4)
ON CONFLICT (channel, number) DO UPDATE SET
    profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
    language = COALESCE(EXCLUDED.language, contacts.language),
    updated_at = now()
RETURNING id, human_since, human_last_activity"""
CONTACT_COLUMNS = """
id, channel, number, address, profile_name, language, opted_out, opted_out_at, human_since,
human_last_activity, last_inbound_at, created_at"""
SELECT_CONTACT = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE channel = $1 AND number = $2"
SELECT_CONTACT_FOR_UPDATE = SELECT_CONTACT + " FOR UPDATE"
SET_OPT_OUT = """
UPDATE contacts
SET opted_out = $2, opted_out_at = CASE WHEN $2 THEN $3::timestamptz END, updated_at = now()
WHERE id = $1 AND opted_out IS DISTINCT FROM $2
RETURNING id"""
ENTER_HUMAN_MODE = """
UPDATE contacts
SET human_since = COALESCE(human_since, $2), human_last_activity = $2, updated_at = now()
WHERE id = $1"""
TOUCH_HUMAN = """
UPDATE contacts
SET human_since = COALESCE(human_since, $3), human_last_activity = $3, updated_at = now()
WHERE channel = $1 AND number = $2
RETURNING id"""
LEAVE_HUMAN_MODE = """
UPDATE contacts SET human_since = NULL, human_last_activity = NULL, updated_at = now()
WHERE id = $1"""
RESOLVE_CONTACT_HANDOFFS = """
UPDATE handoffs AS h SET resolved_at = $2
FROM leads AS l
WHERE l.id = h.lead_id AND l.contact_id = $1 AND h.resolved_at IS NULL"""
DELETE_CONTACT = "DELETE FROM contacts WHERE channel = $1 AND number = $2 RETURNING id"
# Erasure reads the contact's leads (for `contact.erased`) under the contact's lock, then deletes.
SELECT_CONTACT_LEADS_FOR_UPDATE = """
SELECT c.id,
       ARRAY(SELECT l.id FROM leads AS l WHERE l.contact_id = c.id ORDER BY l.id) AS lead_ids
FROM contacts AS c WHERE c.channel = $1 AND c.number = $2
FOR UPDATE OF c"""
# Erasure: the contact's email addresses its leads hold ($1 channel, $2 number), then every outbox
# row of the contact: its own ($3 contact id, NULL when it has none) and those written to one of
# its addresses ($4) without a contact id (the local calendar's invitations).
SELECT_CONTACT_EMAILS = """
SELECT DISTINCT l.email FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE c.channel = $1 AND c.number = $2 AND l.email IS NOT NULL"""
DELETE_CONTACT_OUTBOX = """
DELETE FROM outbox
WHERE contact_id = $1 OR lower(payload ->> 'to') = ANY($2::text[])
RETURNING id, dedup_key"""

# Profile columns of a lead, in parameter order after ($1 contact_id, $2 status, $3 force_status).
LEAD_PROFILE_COLUMNS: tuple[str, ...] = (
    "stage", "name", "company", "email", "language", "timezone",
    "need_words", "need_summary", "need_message_id",
    "budget_amount", "budget_currency", "budget_words", "budget_message_id",
    "authority_role", "authority_decides", "authority_words", "authority_message_id",
    "timeline_words", "timeline_date", "timeline_message_id",
    "summary",
    "booking_event_id", "booking_calendar", "booking_start", "booking_end", "booking_link",
    "booking_status",
    "score", "score_reasons", "disqualified_by",
)
_KEEP_KNOWN = ",\n    ".join(
    f"{column} = COALESCE(EXCLUDED.{column}, leads.{column})" for column in LEAD_PROFILE_COLUMNS
)
_STATUS_RANK = (
    "CASE {} "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in OPEN_STATUS_RANK.items())
    + " END"
)
# Built once from the column list; every value is still a parameter.


def _upsert_lead(contact_id: str, first: int) -> str:
    """The lead upsert with the contact id given by `contact_id` (SQL) and the status, force flag
    and profile values as parameters from `$first` on."""
    values = ", ".join(f"${i}" for i in range(first + 2, first + 2 + len(LEAD_PROFILE_COLUMNS)))
    return f"""
INSERT INTO leads (contact_id, status, {", ".join(LEAD_PROFILE_COLUMNS)})
VALUES ({contact_id}, ${first}, {values})
ON CONFLICT (contact_id) WHERE status NOT IN ('won', 'lost') DO UPDATE SET
    status = CASE
        WHEN ${first + 1}::boolean
          OR {_STATUS_RANK.format("EXCLUDED.status")} >= {_STATUS_RANK.format("leads.status")}
        THEN EXCLUDED.status ELSE leads.status END,
    {_KEEP_KNOWN},
    updated_at = now()
RETURNING id, contact_id"""


UPSERT_LEAD = _upsert_lead("$1", 2)
# The contact ($1-$4, as UPSERT_CONTACT) and its open lead in one statement: one round trip.
UPSERT_CONTACT_AND_LEAD = (
    f"WITH contact AS ({UPSERT_CONTACT})" + _upsert_lead("(SELECT id FROM contact)", 5)
)
LEAD_COLUMNS = (
    "l.id, l.contact_id, l.status, l.created_at, l.updated_at, l.closed_at, "
    + ", ".join(f"l.{c}" for c in LEAD_PROFILE_COLUMNS)
    + ", c.channel, c.number, c.profile_name AS contact_profile_name"
)
# The booking the contact's open lead holds ($1 channel, $2 number), locked for the update that
# may change it (`sink.PostgresLeadSink.lead_updated`).
SELECT_OPEN_LEAD_BOOKING = """
SELECT l.id, l.booking_event_id, l.booking_calendar, l.booking_start, l.booking_end,
       l.booking_link, l.booking_status
FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE c.channel = $1 AND c.number = $2 AND l.status NOT IN ('won', 'lost')
FOR UPDATE OF l"""
SELECT_LEAD = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id WHERE l.id = $1"""
# A lead before a write, for its events (`integrations.leads.events`): locked after the contact,
# in the order the lead upsert locks them.
SELECT_OPEN_LEAD_FOR_UPDATE = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE l.contact_id = $1 AND l.status NOT IN ('won', 'lost')
FOR UPDATE OF l"""
SELECT_LEAD_STATUS_FOR_UPDATE = "SELECT status FROM leads WHERE id = $1 FOR UPDATE"
LIST_LEADS = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE ($1::text IS NULL OR l.status = $1)
  AND ($2::timestamptz IS NULL OR l.created_at >= $2)
  AND ($3::timestamptz IS NULL OR l.created_at < $3)
ORDER BY l.created_at DESC, l.id DESC
LIMIT $4 OFFSET $5"""
COUNT_LEADS = """
SELECT count(*) FROM leads AS l
WHERE ($1::text IS NULL OR l.status = $1)
  AND ($2::timestamptz IS NULL OR l.created_at >= $2)
  AND ($3::timestamptz IS NULL OR l.created_at < $3)"""
SET_OUTCOME = """
UPDATE leads SET status = $2, closed_at = COALESCE(closed_at, $3), updated_at = now()
WHERE id = $1
RETURNING id"""
RESOLVE_LEAD_HANDOFFS = """
UPDATE handoffs SET resolved_at = $2 WHERE lead_id = $1 AND resolved_at IS NULL"""

INSERT_HANDOFF = """
INSERT INTO handoffs (lead_id, reason, at)
VALUES ($1, $2, $3)
ON CONFLICT (lead_id, reason) WHERE resolved_at IS NULL DO NOTHING
RETURNING id"""
SELECT_HANDOFFS = """
SELECT id, reason, at, resolved_at FROM handoffs WHERE lead_id = $1 ORDER BY at, id"""

# The contact ($1-$4, as UPSERT_CONTACT) upserted and one transcript line stored in one statement
# (one round trip, atomic without an explicit transaction): the hot path records two per turn.
_INSERT_LINE = """
INSERT INTO transcript (
    contact_id, channel, direction, author, kind, text, media, details, provider_message_id,
    message_ids, at
)
SELECT contact.id, $1, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13 FROM contact
ON CONFLICT (channel, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
RETURNING id, contact_id"""
RECORD_MESSAGE = f"WITH contact AS ({UPSERT_CONTACT}){_INSERT_LINE}"
# A lead's message, as RECORD_MESSAGE, in the same statement: the contact's `last_inbound_at`
# (the 24-hour window runs from it; `$13`, the message's time), the contact's follow-up moved on
# (`schedule.ARM_FOLLOW_UP`, `$14` seconds later; NULL: none), the provider's form of the number
# (`$15`, `contacts.address`), and `answered`: the kind of the scheduled message (reminder,
# follow-up) this one is the first answer to, if any.
RECORD_INBOUND = f"""
WITH contact AS (
    INSERT INTO contacts (channel, number, profile_name, language, last_inbound_at, address)
    VALUES ($1, $2, $3, $4, $13, $15)
    ON CONFLICT (channel, number) DO UPDATE SET
        profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
        language = COALESCE(EXCLUDED.language, contacts.language),
        last_inbound_at = GREATEST(contacts.last_inbound_at, EXCLUDED.last_inbound_at),
        address = EXCLUDED.address,
        updated_at = now()
    RETURNING id
),
latest AS (
    SELECT t.direction, t.kind FROM transcript AS t JOIN contact ON t.contact_id = contact.id
    ORDER BY t.at DESC, t.id DESC
    LIMIT 1
),
line AS ({_INSERT_LINE}),
follow_up AS ({ARM_FOLLOW_UP})
SELECT line.id, line.contact_id,
       (SELECT kind FROM latest WHERE direction = 'out' AND kind IN ('reminder', 'follow_up'))
           AS answered
FROM line"""
# One sent part of a burst's reply (`migrations/0005_reply_parts.sql`): the contact ($1-$4, as
# UPSERT_CONTACT), then $5 text, $6 first provider id, $7 all its ids, $8 at, $9 burst, $10 part.
# Either unique index (the provider id, or the burst and part) makes a repeat a no-op.
RECORD_REPLY_PART = f"""
WITH contact AS ({UPSERT_CONTACT})
INSERT INTO transcript (
    contact_id, channel, direction, author, kind, text, provider_message_id, message_ids, at,
    burst_id, part
)
SELECT contact.id, $1, 'out', 'bot', 'text', $5, $6, $7, $8, $9, $10 FROM contact
ON CONFLICT DO NOTHING
RETURNING id"""
SELECT_SENT_PARTS = """
SELECT part, message_ids FROM transcript WHERE channel = $1 AND burst_id = $2 ORDER BY part"""
# The contact's mode in one read: its flags, whether a person wrote in the current stretch, and
# the reason of its newest unresolved handoff (`integrations.leads.mode.contact_mode` decides).
# (`MODE_INPUTS` is also a column list of the console's inbox, over `contacts AS c`.)
MODE_INPUTS = """
c.opted_out, c.human_since, c.human_last_activity,
EXISTS (
    SELECT 1 FROM transcript AS t
    WHERE t.contact_id = c.id AND t.author = 'human' AND t.text IS NOT NULL
      AND c.human_since IS NOT NULL AND t.at >= c.human_since
) AS human_wrote,
(
    SELECT h.reason FROM handoffs AS h JOIN leads AS l ON l.id = h.lead_id
    WHERE l.contact_id = c.id AND h.resolved_at IS NULL
    ORDER BY h.at DESC, h.id DESC
    LIMIT 1
) AS open_handoff"""
SELECT_CONTACT_MODE = f"""
SELECT {MODE_INPUTS}
FROM contacts AS c WHERE c.channel = $1 AND c.number = $2"""
SELECT_HUMAN_NOTES = """
SELECT t.text FROM transcript AS t JOIN contacts AS c ON c.id = t.contact_id
WHERE c.channel = $1 AND c.number = $2 AND t.author = 'human' AND t.text IS NOT NULL
  AND c.human_since IS NOT NULL AND t.at >= c.human_since
ORDER BY t.at DESC, t.id DESC
LIMIT $3"""
SELECT_TRANSCRIPT = """
SELECT * FROM (
    SELECT id, direction, author, kind, text, media::text AS media, details::text AS details,
           provider_message_id, message_ids, at
    FROM transcript WHERE contact_id = $1
    ORDER BY at DESC, id DESC
    LIMIT $2
) AS latest
ORDER BY at, id"""
