-- The releases a catalog received as DDEX ERN messages: which recordings each
-- delivered, so that a later message for the same release replaces its deals and a
-- takedown (a deal-less update or a PurgeReleaseMessage) knows which holdings to end.
CREATE TABLE ern_releases (
    catalog_id    TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    -- `ICPN:…`, `GRid:…` or `CatalogNumber:…` of the message's main release.
    release_key   TEXT NOT NULL,
    -- The ISRCs of its audio recordings, as a JSON array.
    isrcs         TEXT NOT NULL,
    -- The MessageId of the last message about it.
    message_id    TEXT NOT NULL,
    delivered_at  TIMESTAMP NOT NULL,
    -- Set when a takedown ended its holdings (a later delivery clears it).
    taken_down_on DATE,
    PRIMARY KEY (catalog_id, release_key)
);
