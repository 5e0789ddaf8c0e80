-- The holding an ERN delivery's deals give is kept as one version row per distinct
-- holding (scope 'delivery', keyed by the holding's content) with the set of the
-- recordings it covers (a RecordingSet of ISRC keys), not one row per recording:
-- a 150,000-recording delivery writes a few rows instead of 150,000. SQLite cannot
-- alter a CHECK constraint, so the table is rebuilt.
CREATE TABLE holding_versions_new (
    id             TEXT PRIMARY KEY NOT NULL,
    catalog_id     TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL CHECK (scope IN ('catalog', 'label', 'recording', 'delivery')),
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
    recordings     BLOB,
    UNIQUE (catalog_id, scope, scope_key, version),
    CHECK ((scope = 'delivery') = (recordings IS NOT NULL))
);
INSERT INTO holding_versions_new (id, catalog_id, scope, scope_key, display, version,
    territories, usages, start_date, end_date, sublicensable, removed, changed_by,
    changed_at, superseded_at, recordings)
SELECT id, catalog_id, scope, scope_key, display, version, territories, usages,
    start_date, end_date, sublicensable, removed, changed_by, changed_at, superseded_at, NULL
FROM holding_versions;
DROP TABLE holding_versions;
ALTER TABLE holding_versions_new RENAME TO holding_versions;
CREATE INDEX holding_versions_current ON holding_versions (catalog_id, superseded_at);
