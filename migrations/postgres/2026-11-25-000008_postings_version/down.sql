ALTER TABLE catalogs DROP COLUMN postings_version;
