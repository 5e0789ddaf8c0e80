-- Members who explicitly watch a deal: they get its e-mails even for kinds they
-- have switched off in their notification settings.
CREATE TABLE deal_watchers (
    deal_id     TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (deal_id, user_id)
);
