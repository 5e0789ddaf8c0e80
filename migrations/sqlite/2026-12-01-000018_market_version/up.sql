-- One counter for everything the marketplace shows (offers, their audiences and
-- states): every write to an offer bumps it in the same transaction, so a node's
-- cached marketplace answers are served only while the database still holds the
-- version they were computed at (docs/performance.md, "Read caches").
CREATE TABLE market_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO market_version (id, version) VALUES (1, 1);
