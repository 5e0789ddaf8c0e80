-- The marketplace: offers (a licensor lists a slice with asking terms) and requests
-- (a licensee lists what it wants), each public or targeted at named organizations.
--
-- `terms` keeps the offer's TermSheetInput as canonical JSON (what a deal opened from
-- the offer starts from); the columns after it are denormalized from those terms so
-- browsing filters and sorts in SQL. Money is integer minor units of `currency`.
-- `offer_facets` holds, per offer, how many of its slice's tracks each genre and label
-- of the catalog has: computed once at creation from the postings bitmaps
-- (intersection_len with the slice), since slices never change; browsing filters and
-- facet counts are then index lookups instead of bitmap work on every request.

CREATE TABLE offers (
    id                TEXT PRIMARY KEY NOT NULL,
    organization_id   TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slice_id          TEXT NOT NULL REFERENCES slices (id) ON DELETE CASCADE,
    catalog_id        TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    catalog_no        BIGINT NOT NULL,
    title             TEXT NOT NULL,
    terms             TEXT NOT NULL,
    territories       TEXT NOT NULL,
    usages            TEXT NOT NULL,
    exclusive         BOOLEAN NOT NULL,
    currency          TEXT NOT NULL,
    asking_minor      BIGINT NOT NULL,
    track_count       BIGINT NOT NULL,
    sample_track_ids  TEXT NOT NULL,
    start_date        DATE NOT NULL,
    end_date          DATE NOT NULL,
    visibility        TEXT NOT NULL,
    status            TEXT NOT NULL,
    expires_at        TIMESTAMP NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    published_at      TIMESTAMP,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX offers_open ON offers (status, published_at, id);
CREATE INDEX offers_organization ON offers (organization_id, id);
CREATE INDEX offers_slice ON offers (slice_id);
CREATE INDEX offers_expiry ON offers (status, expires_at);

CREATE TABLE offer_targets (
    offer_id         TEXT NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (offer_id, organization_id)
);
CREATE INDEX offer_targets_organization ON offer_targets (organization_id, offer_id);

CREATE TABLE offer_facets (
    offer_id     TEXT NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    posting_key  TEXT NOT NULL,
    display      TEXT NOT NULL,
    track_count  BIGINT NOT NULL,
    PRIMARY KEY (offer_id, kind, posting_key)
);
CREATE INDEX offer_facets_key ON offer_facets (kind, posting_key, offer_id);

CREATE TABLE requests (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    selector         TEXT,
    isrcs            TEXT,
    isrc_count       BIGINT NOT NULL,
    territories      TEXT NOT NULL,
    usages           TEXT NOT NULL,
    start_date       DATE NOT NULL,
    end_date         DATE NOT NULL,
    budget_minor     BIGINT,
    currency         TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    status           TEXT NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX requests_open ON requests (status, id);
CREATE INDEX requests_organization ON requests (organization_id, id);
CREATE INDEX requests_expiry ON requests (status, expires_at);

CREATE TABLE request_targets (
    request_id       TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (request_id, organization_id)
);
CREATE INDEX request_targets_organization ON request_targets (organization_id, request_id);
