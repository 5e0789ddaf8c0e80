-- Webhooks (docs/webhooks.md): an organization's receiver endpoints and the outbox of
-- deliveries to them, written in the transaction of the change like the mail outbox.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY NOT NULL,
    organization_id       TEXT NOT NULL REFERENCES organizations (id),
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    -- The subscribed event types, a JSON array of notification kinds.
    event_types           TEXT NOT NULL,
    enabled               BOOLEAN NOT NULL,
    -- Why the endpoint was disabled by Cadenza (null when enabled, or disabled by its owner).
    disabled_reason       TEXT,
    -- The signing secret (whsec_…), kept in clear: signing needs it.
    secret                TEXT NOT NULL,
    -- The secret before the last rotation, valid until previous_secret_until.
    previous_secret       TEXT,
    previous_secret_until TIMESTAMP,
    -- Delivery state: one worker at a time holds an endpoint (claimed_until), deliveries
    -- go out in order, and a failure delays the whole endpoint (next_attempt_at).
    next_attempt_at       TIMESTAMP NOT NULL,
    claimed_until         TIMESTAMP,
    consecutive_failures  INTEGER NOT NULL,
    failing_since         TIMESTAMP,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_organization ON webhook_endpoints (organization_id, id);
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (enabled, next_attempt_at);

CREATE TABLE webhook_deliveries (
    -- Also the webhook-id header: the same on every attempt of this delivery.
    id                TEXT PRIMARY KEY NOT NULL,
    endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The event's id (evt_…): the same for every endpoint the event goes to.
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    subject_type      TEXT NOT NULL,
    subject_id        TEXT NOT NULL,
    -- The JSON body, exactly as signed and sent.
    payload           TEXT NOT NULL,
    -- pending or delivered.
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL,
    last_status_code  INTEGER,
    last_latency_ms   BIGINT,
    last_error        TEXT,
    last_attempt_at   TIMESTAMP,
    created_at        TIMESTAMP NOT NULL,
    delivered_at      TIMESTAMP
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, status, created_at, id);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, id);
