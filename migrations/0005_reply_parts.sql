-- Exactly-once replies across a Redis outage (issue #15): each part of a burst's reply is stored
-- as its own outbound transcript row as soon as the provider accepts it, keyed by the burst (its
-- first inbound message's provider id) and the part's index. A retried burst reads these rows
-- before sending anything, so a part whose mark in Redis was lost is not sent twice. Owned by
-- integrations/leads (sql.py). Append-only.

ALTER TABLE transcript
    ADD COLUMN burst_id text,
    ADD COLUMN part     integer CHECK (part >= 0);
ALTER TABLE transcript ADD CONSTRAINT transcript_part_has_burst
    CHECK ((burst_id IS NULL) = (part IS NULL));
CREATE UNIQUE INDEX transcript_burst_part ON transcript (channel, burst_id, part)
    WHERE burst_id IS NOT NULL;
