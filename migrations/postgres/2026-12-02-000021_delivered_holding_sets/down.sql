DELETE FROM holding_versions WHERE scope = 'delivery';
ALTER TABLE holding_versions DROP CONSTRAINT holding_versions_delivery_recordings;
ALTER TABLE holding_versions DROP CONSTRAINT holding_versions_scope_check;
ALTER TABLE holding_versions ADD CONSTRAINT holding_versions_scope_check
    CHECK (scope IN ('catalog', 'label', 'recording'));
ALTER TABLE holding_versions DROP COLUMN recordings;
