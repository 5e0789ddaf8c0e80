-- Rights are per recording (ISRC), not per catalog: every catalog, slice and grant
-- also keeps its set of recordings (a 64-bit Roaring bitmap of packed ISRC keys,
-- domain::recording::RecordingSet), so sets from different catalogs and
-- organizations compare directly. NULL only until the startup backfill
-- (db::recordings::backfill) has computed it for rows written before this
-- migration; it also recomputes slices' content_hash and grants' tracks_hash,
-- which are now SHA-256 over the sorted ISRCs.
ALTER TABLE catalogs ADD COLUMN recordings BLOB;
ALTER TABLE slices ADD COLUMN recordings BLOB;
ALTER TABLE grants ADD COLUMN recordings BLOB;
CREATE INDEX grants_licensor_dates ON grants (licensor_org_id, end_date);
