-- The manager's console (issue #16): its people, their sign-ins, and the live feed of changes.
-- Owned by console/users.py (console_users, console_sessions) and console/live.py (the
-- notifications). Append-only: a fix is a new numbered file.

-- A person of the sales team. `password_expired`: the password was made by `make user` or by an
-- admin and shown once; it must be replaced at the next sign-in.
CREATE TABLE console_users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    role             text NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash    text NOT NULL,
    password_expired boolean NOT NULL DEFAULT true,
    last_login_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (email)
);

-- One row per sign-in. The cookie holds a random token (signed); only its SHA-256 is stored, so
-- a copy of this table signs nobody in. Signing out, a password reset or removing the person
-- deletes the rows.
CREATE TABLE console_sessions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    user_id     bigint NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- The live feed: a change the console shows (a message, a handoff, a lead's status, who has the
-- conversation, an erased contact) notifies `console:<schema>` with the contact's id and what
-- changed; never a number or a text. A trigger, so every writer (workers, admin API, console)
-- feeds it without knowing. Channels are per schema, so test schemas never hear each other.
CREATE FUNCTION console_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    contact bigint;
    kind    text;
BEGIN
    IF TG_TABLE_NAME = 'transcript' THEN
        contact := NEW.contact_id;
        kind := 'message';
    ELSIF TG_TABLE_NAME = 'handoffs' THEN
        SELECT l.contact_id INTO contact FROM leads AS l WHERE l.id = NEW.lead_id;
        kind := 'handoff';
    ELSIF TG_TABLE_NAME = 'leads' THEN
        contact := NEW.contact_id;
        kind := 'lead';
    ELSIF TG_OP = 'DELETE' THEN
        contact := OLD.id;
        kind := 'erased';
    ELSE
        contact := NEW.id;
        kind := 'mode';
    END IF;
    PERFORM pg_notify(
        'console:' || current_schema(),
        json_build_object('contact', contact, 'kind', kind)::text
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER console_transcript AFTER INSERT ON transcript
    FOR EACH ROW EXECUTE FUNCTION console_notify();
CREATE TRIGGER console_handoffs AFTER INSERT OR UPDATE OF resolved_at ON handoffs
    FOR EACH ROW EXECUTE FUNCTION console_notify();
CREATE TRIGGER console_lead_inserted AFTER INSERT ON leads
    FOR EACH ROW EXECUTE FUNCTION console_notify();
CREATE TRIGGER console_lead_status AFTER UPDATE OF status ON leads
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION console_notify();
CREATE TRIGGER console_contact_mode AFTER UPDATE OF human_since, human_last_activity, opted_out
    ON contacts
    FOR EACH ROW WHEN (
        OLD.human_since IS DISTINCT FROM NEW.human_since
        OR OLD.human_last_activity IS DISTINCT FROM NEW.human_last_activity
        OR OLD.opted_out IS DISTINCT FROM NEW.opted_out
    )
    EXECUTE FUNCTION console_notify();
CREATE TRIGGER console_contact_erased AFTER DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION console_notify();
