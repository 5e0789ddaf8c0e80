-- Bumped in the same transaction as every write to a catalog's postings
-- (catalogs::merge_postings), so a node's cache of decoded postings can tell
-- whether its entries are still what the database has committed.
ALTER TABLE catalogs ADD COLUMN postings_version BIGINT NOT NULL DEFAULT 0;
