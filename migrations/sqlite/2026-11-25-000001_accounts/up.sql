-- Organizations, their members, and everything authentication needs.
-- Ids are UUIDv7 text; instants are UTC TIMESTAMPs; e-mails are stored lowercased.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('platform', 'label', 'publisher')),
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email            TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'signer', 'negotiator', 'viewer')),
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX users_organization ON users (organization_id);

-- Refresh tokens are stored only as SHA-256 hashes. A family is one login's chain
-- of rotations: presenting an already rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    rotated_at  TIMESTAMP,
    revoked_at  TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed logins per throttle key (`account:<email>` or `ip:<address>`), shared by every node.
CREATE TABLE login_throttle (
    throttle_key   TEXT PRIMARY KEY NOT NULL,
    failures       INTEGER NOT NULL,
    window_start   TIMESTAMP NOT NULL,
    blocked_until  TIMESTAMP
);

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'signer', 'negotiator', 'viewer')),
    token_hash       TEXT NOT NULL UNIQUE,
    invited_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    accepted_at      TIMESTAMP,
    revoked_at       TIMESTAMP
);
CREATE INDEX invitations_organization ON invitations (organization_id);

CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);

-- Append-only: who did what, when, with the state before and after (JSON text).
CREATE TABLE audit_events (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT,
    actor_user_id    TEXT,
    action           TEXT NOT NULL,
    subject_type     TEXT NOT NULL,
    subject_id       TEXT,
    before_json      TEXT,
    after_json       TEXT,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, created_at);
CREATE INDEX audit_events_subject ON audit_events (subject_type, subject_id);

-- The mail outbox, written in the same transaction as the change that causes
-- the mail; the delivery worker renders `template` with `context_json` and sends it.
CREATE TABLE mail_outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    template         TEXT NOT NULL,
    recipient_email  TEXT NOT NULL,
    recipient_user_id TEXT,
    context_json     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    claimed_until    TIMESTAMP,
    last_error       TEXT,
    created_at       TIMESTAMP NOT NULL,
    sent_at          TIMESTAMP
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
