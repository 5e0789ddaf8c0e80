-- Deals, their immutable term-sheet revisions, signatures and timeline; the
-- transfers recorded at execution (grants, installments, payments); and the
-- idempotency keys of POSTs that create or transition.

CREATE TABLE deals (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    licensor_org_id   TEXT NOT NULL REFERENCES organizations (id),
    licensee_org_id   TEXT NOT NULL REFERENCES organizations (id),
    opened_by         TEXT NOT NULL CHECK (opened_by IN ('licensor', 'licensee')),
    offer_id          TEXT,
    request_id        TEXT,
    catalog_id        TEXT NOT NULL,
    state             TEXT NOT NULL,
    turn              TEXT CHECK (turn IN ('licensor', 'licensee')),
    revision          INTEGER NOT NULL,
    agreed_revision   INTEGER,
    -- Optimistic concurrency: every change increments it; it is the ETag.
    version           INTEGER NOT NULL,
    respond_by        TIMESTAMP,
    expiring_notified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX deals_licensor ON deals (licensor_org_id, id);
CREATE INDEX deals_licensee ON deals (licensee_org_id, id);
CREATE INDEX deals_respond_by ON deals (state, respond_by);

CREATE TABLE deal_revisions (
    deal_id       TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    proposed_by   TEXT NOT NULL CHECK (proposed_by IN ('licensor', 'licensee')),
    proposer_user_id TEXT NOT NULL,
    terms         TEXT NOT NULL,
    terms_hash    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (deal_id, number)
);

CREATE TABLE deal_signatures (
    id          TEXT PRIMARY KEY NOT NULL,
    deal_id     TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    party       TEXT NOT NULL CHECK (party IN ('licensor', 'licensee')),
    user_id     TEXT NOT NULL,
    terms_hash  TEXT NOT NULL,
    signed_at   TIMESTAMP NOT NULL,
    -- Voided when a counter reopens the agreed revision.
    voided_at   TIMESTAMP
);
CREATE INDEX deal_signatures_deal ON deal_signatures (deal_id, revision);

CREATE TABLE deal_events (
    id             TEXT PRIMARY KEY NOT NULL,
    deal_id        TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    party          TEXT,
    actor_user_id  TEXT,
    revision       INTEGER,
    summary        TEXT NOT NULL,
    data           TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX deal_events_deal ON deal_events (deal_id, id);

CREATE TABLE grants (
    id                TEXT PRIMARY KEY NOT NULL,
    deal_id           TEXT NOT NULL UNIQUE REFERENCES deals (id),
    licensor_org_id   TEXT NOT NULL REFERENCES organizations (id),
    licensee_org_id   TEXT NOT NULL REFERENCES organizations (id),
    catalog_id        TEXT NOT NULL,
    slice_id          TEXT NOT NULL,
    tracks            BLOB NOT NULL,
    track_count       BIGINT NOT NULL,
    tracks_hash       TEXT NOT NULL,
    territories       TEXT NOT NULL,
    usages            TEXT NOT NULL,
    start_date        DATE NOT NULL,
    end_date          DATE NOT NULL,
    exclusive         BOOLEAN NOT NULL,
    sublicensable     BOOLEAN NOT NULL,
    terms_hash        TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'terminated', 'completed')),
    terminated_at     TIMESTAMP,
    termination_reason TEXT,
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX grants_licensor ON grants (licensor_org_id, catalog_id, end_date);
CREATE INDEX grants_licensee ON grants (licensee_org_id, id);

CREATE TABLE installments (
    id            TEXT PRIMARY KEY NOT NULL,
    deal_id       TEXT NOT NULL REFERENCES deals (id),
    grant_id      TEXT NOT NULL REFERENCES grants (id),
    seq           INTEGER NOT NULL,
    due_date      DATE NOT NULL,
    currency      TEXT NOT NULL,
    -- Money in integer minor units of `currency`: exact on both backends.
    amount_minor  BIGINT NOT NULL,
    paid_minor    BIGINT NOT NULL DEFAULT 0,
    status        TEXT NOT NULL CHECK (status IN ('scheduled', 'due', 'paid', 'partially_paid', 'overdue', 'cancelled')),
    overdue_notified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX installments_deal ON installments (deal_id, seq);
CREATE INDEX installments_due ON installments (status, due_date);

CREATE TABLE payments (
    id              TEXT PRIMARY KEY NOT NULL,
    installment_id  TEXT NOT NULL REFERENCES installments (id),
    amount_minor    BIGINT NOT NULL,
    paid_on         DATE NOT NULL,
    reference       TEXT NOT NULL,
    recorded_by     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX payments_installment ON payments (installment_id);

CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
