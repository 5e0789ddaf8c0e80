-- The tamper-evident audit chain (docs/audit.md): the audit events of one organization
-- are numbered 1, 2, 3… (seq) and each carries the hash of the one before it and its
-- own hash (lowercase hex SHA-256, src/domain/audit_chain.rs). Events without an
-- organization form the platform chain, keyed '' below. The columns stay nullable only
-- for rows written before this migration: the startup backfill
-- (db::audit::backfill) chains them, oldest first, before the server serves.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
-- One event per place in a chain: two writers can never both be number N.
CREATE UNIQUE INDEX audit_events_chain ON audit_events (COALESCE(organization_id, ''), seq);
-- The trail as owners page through it (newest first).
CREATE INDEX audit_events_organization_seq ON audit_events (organization_id, seq);

-- The last link of each chain. Appending locks this row (an upsert), so two
-- transactions appending to one chain queue instead of forking it; it also lets
-- `cadenza audit verify` see events deleted at the end of a chain.
CREATE TABLE audit_chain_heads (
    chain       TEXT PRIMARY KEY NOT NULL,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
