-- The local calendar (integrations/calendar/local.py): calls booked when no Google Calendar is set.
--
-- Double booking is impossible here, not just unlikely: an exclusion constraint refuses two
-- confirmed bookings whose `blocked` ranges overlap. `blocked` is the meeting plus the buffer
-- after it, so two confirmed bookings are always at least that buffer apart. Range types carry
-- their own GiST operator class, so no extension (btree_gist) is needed.
CREATE TABLE calendar_bookings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text NOT NULL,
    during          tstzrange NOT NULL,
    blocked         tstzrange NOT NULL,
    status          text NOT NULL DEFAULT 'confirmed',
    attendee_name   text,
    attendee_email  text,
    attendee_phone  text NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL,
    sequence        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendar_bookings_key_unique UNIQUE (idempotency_key),
    CONSTRAINT calendar_bookings_status_check CHECK (status IN ('confirmed', 'cancelled')),
    CONSTRAINT calendar_bookings_range_check CHECK (
        NOT isempty(during) AND lower(during) = lower(blocked) AND upper(during) <= upper(blocked)
    ),
    CONSTRAINT calendar_bookings_no_overlap
        EXCLUDE USING gist (blocked WITH &&) WHERE (status = 'confirmed')
);

-- free_slots reads the confirmed bookings of a time window; the exclusion constraint's GiST index
-- covers `blocked`, this one covers `during` for that query.
CREATE INDEX calendar_bookings_during ON calendar_bookings USING gist (during)
    WHERE status = 'confirmed';
