-- The statement lifecycle (issue #15): the licensor disputes (with a reason) or
-- confirms a statement; a confirmed statement is frozen and becomes an amount owed,
-- paid and swept like an installment (`paid_minor`, `overdue_notified`). Money is
-- integer minor units of the statement's currency.
ALTER TABLE royalty_statements ADD COLUMN status TEXT NOT NULL DEFAULT 'issued'
    CHECK (status IN ('issued', 'disputed', 'superseded', 'confirmed', 'due', 'partially_paid', 'paid', 'overdue'));
ALTER TABLE royalty_statements ADD COLUMN disputed_reason TEXT;
ALTER TABLE royalty_statements ADD COLUMN disputed_by TEXT;
ALTER TABLE royalty_statements ADD COLUMN disputed_at TIMESTAMP;
ALTER TABLE royalty_statements ADD COLUMN confirmed_by TEXT;
ALTER TABLE royalty_statements ADD COLUMN confirmed_at TIMESTAMP;
ALTER TABLE royalty_statements ADD COLUMN paid_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE royalty_statements ADD COLUMN overdue_notified BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE royalty_statements SET status = 'superseded' WHERE superseded_at IS NOT NULL;
-- The sweeper reads owed statements by status and due date.
CREATE INDEX royalty_statements_due ON royalty_statements (status, due_date);

-- Money the licensor received against a confirmed statement.
CREATE TABLE statement_payments (
    id              TEXT PRIMARY KEY NOT NULL,
    statement_id    TEXT NOT NULL REFERENCES royalty_statements (id),
    amount_minor    BIGINT NOT NULL,
    paid_on         DATE NOT NULL,
    reference       TEXT NOT NULL,
    recorded_by     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX statement_payments_statement ON statement_payments (statement_id);
