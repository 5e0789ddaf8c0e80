-- Chain of title. A catalog is either self-declared (rights held from labels
-- outside Cadenza, typed by its owner) or received: backed by a grant its
-- organization received on Cadenza, whose rights it may offer on within their
-- bounds (backing_grant_id).
ALTER TABLE catalogs ADD COLUMN backing_grant_id TEXT REFERENCES grants (id);
CREATE UNIQUE INDEX catalogs_backing_grant ON catalogs (backing_grant_id);

-- Self-declared holdings with history: one row per version of a catalog's
-- holding (scope `catalog`, key '') or of an override for one label (key: the
-- folded label) or one recording (key: the ISRC). The current version of each
-- has superseded_at NULL; a removed override's last version has removed TRUE.
CREATE TABLE holding_versions (
    id             TEXT PRIMARY KEY NOT NULL,
    catalog_id     TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL CHECK (scope IN ('catalog', 'label', 'recording')),
    scope_key      TEXT NOT NULL,
    display        TEXT NOT NULL,
    version        INTEGER NOT NULL,
    territories    TEXT NOT NULL,
    usages         TEXT NOT NULL,
    start_date     DATE NOT NULL,
    end_date       DATE NOT NULL,
    sublicensable  BOOLEAN NOT NULL,
    removed        BOOLEAN NOT NULL DEFAULT FALSE,
    changed_by     TEXT,
    changed_at     TIMESTAMP NOT NULL,
    superseded_at  TIMESTAMP,
    UNIQUE (catalog_id, scope, scope_key, version)
);
CREATE INDEX holding_versions_current ON holding_versions (catalog_id, superseded_at);

-- Every catalog's holding as it stands becomes its version 1.
INSERT INTO holding_versions (id, catalog_id, scope, scope_key, display, version,
    territories, usages, start_date, end_date, sublicensable, removed, changed_by,
    changed_at, superseded_at)
SELECT '0-' || id, id, 'catalog', '', '', 1, territories, usages, holding_start,
    holding_end, sublicensable, FALSE, NULL, created_at, NULL
FROM catalogs;

-- A grant whose backing ended: the upstream grant ended (terminated or ran out),
-- or the self-declared holding it was cut from no longer covers it, or either
-- happened further up the chain. Which tracks, from which day.
CREATE TABLE backing_losses (
    id                 TEXT PRIMARY KEY NOT NULL,
    grant_id           TEXT NOT NULL REFERENCES grants (id),
    cause              TEXT NOT NULL CHECK (cause IN ('upstream_grant_ended', 'holding_cut', 'upstream_backing_lost')),
    -- The grant that ended or lost its own backing, when the cause is upstream.
    upstream_grant_id  TEXT,
    catalog_id         TEXT NOT NULL,
    track_count        BIGINT NOT NULL,
    sample_isrcs       TEXT NOT NULL,
    -- The recordings that lost their backing (RecordingSet bytes).
    recordings         BLOB NOT NULL,
    lost_from          DATE NOT NULL,
    detail             TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX backing_losses_grant ON backing_losses (grant_id, id);
CREATE INDEX backing_losses_upstream ON backing_losses (upstream_grant_id);
