-- Lead events for the team's CRM (issue #18) go through the outbox, one row per event and
-- receiver, and must reach each receiver in order per lead. Rows that share an `ordering_key`
-- (`<receiver>|lead:<id>`) are delivered one after another in id order: a row is claimed only
-- when no earlier row of its key is still pending (integrations/outbox.py, CLAIM_DUE). NULL (the
-- emails) means no order. Append-only.
ALTER TABLE outbox ADD COLUMN ordering_key text;
CREATE INDEX outbox_pending_by_ordering_key ON outbox (ordering_key, id)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
