-- The holding an ERN delivery's deals give is kept as one version row per distinct
-- holding (scope 'delivery', keyed by the holding's content) with the set of the
-- recordings it covers (a RecordingSet of ISRC keys), not one row per recording:
-- a 150,000-recording delivery writes a few rows instead of 150,000.
ALTER TABLE holding_versions ADD COLUMN recordings BYTEA;
ALTER TABLE holding_versions DROP CONSTRAINT holding_versions_scope_check;
ALTER TABLE holding_versions ADD CONSTRAINT holding_versions_scope_check
    CHECK (scope IN ('catalog', 'label', 'recording', 'delivery'));
ALTER TABLE holding_versions ADD CONSTRAINT holding_versions_delivery_recordings
    CHECK ((scope = 'delivery') = (recordings IS NOT NULL));
