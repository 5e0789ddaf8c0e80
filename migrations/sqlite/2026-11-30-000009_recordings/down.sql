DROP INDEX grants_licensor_dates;
ALTER TABLE grants DROP COLUMN recordings;
ALTER TABLE slices DROP COLUMN recordings;
ALTER TABLE catalogs DROP COLUMN recordings;
