-- The in-app notification feed and per-user e-mail preferences. Mails themselves go
-- through `mail_outbox`, written in the same transaction as the feed rows.

-- One row per recipient user and event. `title` and `summary` are rendered when the
-- event happens, so the feed reads the same later even if templates change.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    subject_type     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    title            TEXT NOT NULL,
    summary          TEXT NOT NULL,
    data_json        TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    read_at          TIMESTAMP
);
-- The feed is read newest first per user, optionally only the unread ones.
CREATE INDEX notifications_user_feed ON notifications (user_id, id);
CREATE INDEX notifications_user_unread ON notifications (user_id, read_at, id);

-- E-mail on/off per user and event kind. No row means enabled: a new kind reaches
-- everyone until they opt out.
CREATE TABLE notification_settings (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    email_enabled  BOOLEAN NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, kind)
);

