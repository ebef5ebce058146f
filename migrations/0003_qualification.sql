-- Qualification (issue #13): every lead gets a score 0-100 with its reasons, and a lead the
-- business does not serve now is `nurture` (fits later) or `disqualified` (not a fit), statuses
-- ranked with `qualified`. Owned by integrations/leads (sql.py). Append-only.

ALTER TABLE leads DROP CONSTRAINT leads_status_check;
ALTER TABLE leads ADD CONSTRAINT leads_status_check CHECK (
    status IN (
        'new', 'qualifying', 'qualified', 'nurture', 'disqualified', 'booked', 'handed_off',
        'won', 'lost'
    )
);
ALTER TABLE leads
    ADD COLUMN score           integer CHECK (score BETWEEN 0 AND 100),
    ADD COLUMN score_reasons   text[],
    ADD COLUMN disqualified_by text;
