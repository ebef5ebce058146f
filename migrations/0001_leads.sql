-- Leads, their contacts, handoffs to a human, the transcript, and the outbox of side effects
-- (issue #6). Owned by integrations/leads/store.py (contacts, leads, handoffs, transcript) and
-- integrations/outbox.py (outbox). Append-only: a fix is a new numbered file.

-- One row per WhatsApp user of one channel. Human mode: `human_since` is set while a person of the
-- sales team has the conversation; `human_last_activity` is the last human message (or the
-- handoff), from which HUMAN_IDLE_HOURS is counted.
CREATE TABLE contacts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel             text NOT NULL,
    number              text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{5,14}$'),
    profile_name        text,
    language            text,
    opted_out           boolean NOT NULL DEFAULT false,
    opted_out_at        timestamptz,
    human_since         timestamptz,
    human_last_activity timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, number)
);

-- A lead is one sales opportunity of a contact. It stays open until the manager marks it won or
-- lost; a contact who writes again after that starts a new lead.
CREATE TABLE leads (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id           bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    status               text NOT NULL DEFAULT 'new' CHECK (
        status IN ('new', 'qualifying', 'qualified', 'booked', 'handed_off', 'won', 'lost')
    ),
    stage                text,
    name                 text,
    company              text,
    email                text,
    language             text,
    timezone             text,
    need_words           text,
    need_summary         text,
    need_message_id      text,
    budget_amount        numeric CHECK (budget_amount > 0),
    budget_currency      text,
    budget_words         text,
    budget_message_id    text,
    authority_role       text,
    authority_decides    boolean,
    authority_words      text,
    authority_message_id text,
    timeline_words       text,
    timeline_date        date,
    timeline_message_id  text,
    summary              text,
    booking_event_id     text,
    booking_calendar     text,
    booking_start        timestamptz,
    booking_end          timestamptz,
    booking_link         text,
    booking_status       text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    closed_at            timestamptz
);
-- One open lead per contact: concurrent upserts of one contact meet on this index.
CREATE UNIQUE INDEX leads_one_open_per_contact ON leads (contact_id)
    WHERE status NOT IN ('won', 'lost');
CREATE INDEX leads_by_created ON leads (created_at DESC, id DESC);
CREATE INDEX leads_by_status_created ON leads (status, created_at DESC, id DESC);

-- One row per handoff. While a handoff is unresolved, the same reason for the same lead is the
-- same handoff (a re-run burst, a concurrent worker): the partial unique index absorbs it.
CREATE TABLE handoffs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (reason IN ('low_confidence', 'requested', 'unresolved', 'booked')),
    at          timestamptz NOT NULL,
    resolved_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX handoffs_one_open_per_reason ON handoffs (lead_id, reason)
    WHERE resolved_at IS NULL;
CREATE INDEX handoffs_by_lead ON handoffs (lead_id, at);

-- Every inbound and outbound message. WhatsApp conversation state expires after 24 h; this does
-- not. `provider_message_id` is the inbound message id, or the first id of an outbound reply
-- (`message_ids` keeps them all): recording the same message twice is a no-op.
CREATE TABLE transcript (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id          bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel             text NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('in', 'out')),
    author              text NOT NULL CHECK (author IN ('lead', 'bot', 'human')),
    kind                text NOT NULL DEFAULT 'text',
    text                text,
    media               jsonb NOT NULL DEFAULT '[]'::jsonb,
    details             jsonb NOT NULL DEFAULT '{}'::jsonb,
    provider_message_id text,
    message_ids         text[] NOT NULL DEFAULT '{}',
    at                  timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transcript_provider_message ON transcript (channel, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX transcript_by_contact ON transcript (contact_id, at, id);

-- Side effects that must not be lost (the manager's email), written in the transaction that
-- decides them and delivered by integrations/outbox.py with retries. `contact_id` lets a
-- data-deletion request erase pending and sent payloads with the contact.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    dedup_key       text NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    contact_id      bigint REFERENCES contacts (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
