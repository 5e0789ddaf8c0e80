-- Catalogs, their tracks, the per-catalog attribute index, and slices.
--
-- Tracks are addressed inside a catalog by a dense integer `track_id` (0, 1, 2, … in
-- import order), which is what the Roaring bitmaps of slices, grants and postings hold.
-- `catalog_no` is a compact integer key for the 15M-row tracks table; the public id
-- stays the opaque text `id`. ISRCs are stored packed into an integer (`isrc_key`,
-- see domain::isrc::Isrc::key): 8 bytes instead of 12 per row and per index entry.
-- `tracks` has no foreign key to `catalogs`: a per-row check would slow 15M-row bulk
-- loads, and tracks are only ever written by the import, inside the catalog's lock.

CREATE TABLE catalogs (
    no               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    territories      TEXT NOT NULL,
    usages           TEXT NOT NULL,
    holding_start    DATE NOT NULL,
    holding_end      DATE NOT NULL,
    sublicensable    BOOLEAN NOT NULL,
    track_count      BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX catalogs_organization ON catalogs (organization_id, id);

CREATE TABLE tracks (
    catalog_no    BIGINT NOT NULL,
    track_id      INTEGER NOT NULL,
    isrc_key      BIGINT NOT NULL,
    title         TEXT NOT NULL,
    artists       TEXT NOT NULL,
    label         TEXT NOT NULL,
    genre         TEXT NOT NULL,
    release_date  DATE NOT NULL,
    duration_ms   INTEGER NOT NULL,
    iswc          TEXT,
    PRIMARY KEY (catalog_no, track_id)
);
CREATE UNIQUE INDEX tracks_isrc ON tracks (catalog_no, isrc_key);

-- One row per (catalog, attribute kind, folded key): the serialized bitmap of the
-- tracks having that attribute. kind is all | label | artist | genre | release_year
-- | release_date. Built at import, so a selector is a few bitmap operations.
CREATE TABLE catalog_postings (
    catalog_no   BIGINT NOT NULL REFERENCES catalogs (no) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    posting_key  TEXT NOT NULL,
    display      TEXT NOT NULL,
    track_count  BIGINT NOT NULL,
    bitmap       BYTEA NOT NULL,
    PRIMARY KEY (catalog_no, kind, posting_key)
);

CREATE TABLE slices (
    id                   TEXT PRIMARY KEY,
    catalog_id           TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    organization_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    selector             TEXT NOT NULL,
    track_count          BIGINT NOT NULL,
    catalog_track_count  BIGINT NOT NULL,
    bitmap               BYTEA NOT NULL,
    content_hash         TEXT NOT NULL,
    frozen_at            TIMESTAMP,
    created_at           TIMESTAMP NOT NULL
);
CREATE INDEX slices_catalog ON slices (catalog_id, id);
CREATE INDEX slices_organization ON slices (organization_id, id);
