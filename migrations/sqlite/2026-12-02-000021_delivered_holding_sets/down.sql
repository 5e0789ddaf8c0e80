DELETE FROM holding_versions WHERE scope = 'delivery';
CREATE TABLE holding_versions_old (
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
INSERT INTO holding_versions_old SELECT id, catalog_id, scope, scope_key, display, version,
    territories, usages, start_date, end_date, sublicensable, removed, changed_by, changed_at,
    superseded_at FROM holding_versions;
DROP TABLE holding_versions;
ALTER TABLE holding_versions_old RENAME TO holding_versions;
CREATE INDEX holding_versions_current ON holding_versions (catalog_id, superseded_at);
