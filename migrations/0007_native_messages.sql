-- WhatsApp-native messages and the 24-hour window (issue #17). Owned by integrations/leads
-- (contacts.last_inbound_at; the reminder and follow-up rows of the outbox,
-- integrations/leads/schedule.py) and integrations/whatsapp/contents.py (twilio_contents).
-- Append-only: a fix is a new numbered file.

-- When the contact's last message was sent (the provider's time): WhatsApp's 24-hour customer
-- service window runs from it. Written by the statement that records an inbound message.
ALTER TABLE contacts ADD COLUMN last_inbound_at timestamptz;

-- Reminders and follow-ups are outbox rows due later; a contact's pending ones are found (moved,
-- dropped) by contact and kind.
CREATE INDEX outbox_pending_by_contact ON outbox (contact_id, kind) WHERE status = 'pending';

-- The Content API templates (buttons, lists) the Twilio client created, by the hash of their
-- definition: every process reuses them instead of creating its own.
CREATE TABLE twilio_contents (
    key        text PRIMARY KEY,
    sid        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
