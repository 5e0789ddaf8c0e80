DROP TABLE backing_losses;
DROP TABLE holding_versions;
DROP INDEX catalogs_backing_grant;
ALTER TABLE catalogs DROP COLUMN backing_grant_id;
