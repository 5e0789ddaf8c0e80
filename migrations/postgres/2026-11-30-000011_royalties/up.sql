-- Money after signing: the licensee's usage reports (one per grant and accounting
-- period; a correction is a new version, the earlier ones stay readable) and the
-- royalty statement computed from each current report. Money is integer minor units
-- of the grant's currency.
CREATE TABLE usage_reports (
    id             TEXT PRIMARY KEY NOT NULL,
    grant_id       TEXT NOT NULL REFERENCES grants (id),
    period_start   DATE NOT NULL,
    period_end     DATE NOT NULL,
    version        INTEGER NOT NULL,
    -- The summary lines (territory, usage, licensed/total streams, revenue, subscribers), JSON.
    lines          TEXT NOT NULL,
    isrc_rows      BIGINT NOT NULL,
    uploaded_by    TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    superseded_at  TIMESTAMP,
    UNIQUE (grant_id, period_start, version)
);
CREATE INDEX usage_reports_grant ON usage_reports (grant_id, period_start, version);

CREATE TABLE royalty_statements (
    id                      TEXT PRIMARY KEY NOT NULL,
    grant_id                TEXT NOT NULL REFERENCES grants (id),
    report_id               TEXT NOT NULL REFERENCES usage_reports (id),
    period_start            DATE NOT NULL,
    period_end              DATE NOT NULL,
    currency                TEXT NOT NULL,
    -- Per territory and usage: every candidate amount and the one due, JSON.
    lines                   TEXT NOT NULL,
    earned_minor            BIGINT NOT NULL,
    guarantee_top_up_minor  BIGINT NOT NULL,
    recouped_minor          BIGINT NOT NULL,
    unrecouped_minor        BIGINT NOT NULL,
    payable_minor           BIGINT NOT NULL,
    recouped_to_date_minor  BIGINT NOT NULL,
    owed_to_date_minor      BIGINT NOT NULL,
    due_date                DATE NOT NULL,
    created_at              TIMESTAMP NOT NULL,
    superseded_at           TIMESTAMP
);
CREATE INDEX royalty_statements_grant ON royalty_statements (grant_id, period_start);
