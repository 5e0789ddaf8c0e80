//! The mail outbox: rows written in the same transaction as the change that
//! causes a mail. The delivery worker (see `crate::mail`) drains it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::mail_outbox;
use super::{new_id, now, DbConnection, DbError};

/// A mail to send: which template, to whom, and the template's variables.
#[derive(Debug, Clone)]
pub struct OutgoingMail<'a, C: Serialize> {
    pub template: &'a str,
    pub recipient_email: &'a str,
    pub recipient_user_id: Option<&'a str>,
    pub context: C,
}

/// Queues a mail; returns its stable Message-ID (kept across retries, so a
/// duplicate delivery after an unknown outcome is recognisable).
pub fn enqueue<C: Serialize>(
    conn: &mut DbConnection,
    mail: OutgoingMail<'_, C>,
) -> Result<String, DbError> {
    let id = new_id();
    let message_id = format!("<{id}@cadenza.mail>");
    let context = serde_json::to_string(&mail.context)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
    let at = now();
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(&id),
            mail_outbox::message_id.eq(&message_id),
            mail_outbox::template.eq(mail.template),
            mail_outbox::recipient_email.eq(mail.recipient_email),
            mail_outbox::recipient_user_id.eq(mail.recipient_user_id),
            mail_outbox::context_json.eq(context),
            mail_outbox::status.eq(PENDING),
            mail_outbox::attempts.eq(0),
            mail_outbox::next_attempt_at.eq(at),
            mail_outbox::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(message_id)
}

/// The variables of the newest queued mail of `template` to `email`, if any: how
/// `cadenza demo` plays the invitee who opens the invitation e-mail.
pub fn latest_context(
    conn: &mut DbConnection,
    email: &str,
    template: &str,
) -> Result<Option<serde_json::Value>, DbError> {
    let context: Option<String> = mail_outbox::table
        .filter(mail_outbox::recipient_email.eq(email))
        .filter(mail_outbox::template.eq(template))
        .order((mail_outbox::created_at.desc(), mail_outbox::id.desc()))
        .select(mail_outbox::context_json)
        .first(conn)
        .optional()?;
    context
        .map(|c| serde_json::from_str(&c))
        .transpose()
        .map_err(|e| DbError::Query(diesel::result::Error::DeserializationError(Box::new(e))))
}

/// One stored mail, as the delivery worker and the admin commands see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxMail {
    pub id: String,
    pub message_id: String,
    pub template: String,
    pub recipient_email: String,
    pub recipient_user_id: Option<String>,
    pub context_json: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const DEAD: &str = "dead";

/// Claims up to `limit` due pending mails for one worker until `lease_until`, counting
/// the attempt. A mail is due when its `next_attempt_at` has come and no live lease
/// holds it. Each returned mail is held by this caller alone: on PostgreSQL the
/// candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent workers
/// take disjoint sets without waiting; on SQLite (one writer at a time) each row is
/// taken by a conditional UPDATE whose affected-row count says who won.
pub fn claim_due(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<OutboxMail>, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    match conn {
        DbConnection::Postgres(pg) => Ok(diesel::sql_query(
            "UPDATE mail_outbox SET claimed_until = $1, attempts = attempts + 1 \
             WHERE id IN (\
                 SELECT id FROM mail_outbox \
                 WHERE status = 'pending' AND next_attempt_at <= $2 \
                   AND (claimed_until IS NULL OR claimed_until < $2) \
                 ORDER BY next_attempt_at, id \
                 LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(limit)
        .load::<OutboxMail>(pg)?),
        DbConnection::Sqlite(_) => {
            let candidates: Vec<String> = mail_outbox::table
                .filter(mail_outbox::status.eq(PENDING))
                .filter(mail_outbox::next_attempt_at.le(at))
                .filter(
                    mail_outbox::claimed_until
                        .is_null()
                        .or(mail_outbox::claimed_until.lt(at)),
                )
                .order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc()))
                .limit(limit)
                .select(mail_outbox::id)
                .load(conn)?;
            let mut claimed = Vec::with_capacity(candidates.len());
            for id in candidates {
                let won = diesel::update(
                    mail_outbox::table
                        .find(&id)
                        .filter(mail_outbox::status.eq(PENDING))
                        .filter(
                            mail_outbox::claimed_until
                                .is_null()
                                .or(mail_outbox::claimed_until.lt(at)),
                        ),
                )
                .set((
                    mail_outbox::claimed_until.eq(lease_until),
                    mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                ))
                .execute(conn)?;
                if won == 1 {
                    claimed.push(id);
                }
            }
            if claimed.is_empty() {
                return Ok(Vec::new());
            }
            Ok(mail_outbox::table
                .filter(mail_outbox::id.eq_any(&claimed))
                .order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc()))
                .select(OutboxMail::as_select())
                .load(conn)?)
        }
    }
}

/// Records a delivery. Only a pending mail changes: a mail that an operator killed
/// meanwhile stays as it is. Single-use secrets in the context (invitation and reset
/// tokens, and links carrying them) are blanked once delivered: the database then
/// holds them only as hashes.
pub fn mark_sent(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
    let context: Option<String> = mail_outbox::table
        .find(id)
        .select(mail_outbox::context_json)
        .first(conn)
        .optional()?;
    let redacted = context.map(|c| redact_secrets(&c));
    let changed = diesel::update(
        mail_outbox::table
            .find(id)
            .filter(mail_outbox::status.eq(PENDING)),
    )
    .set((
        mail_outbox::status.eq(SENT),
        mail_outbox::sent_at.eq(at),
        mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(None::<String>),
    ))
    .execute(conn)?;
    if changed == 1 {
        if let Some(redacted) = redacted {
            diesel::update(mail_outbox::table.find(id))
                .set(mail_outbox::context_json.eq(redacted))
                .execute(conn)?;
        }
    }
    Ok(changed == 1)
}

/// The context with `token` and `link` values replaced (the keys are kept, so the
/// row still shows what kind of mail it was).
fn redact_secrets(context: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(context) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in ["token", "link"] {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String("[redacted after delivery]".into());
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => context.to_string(),
    }
}

/// Releases a failed mail for another attempt at `next_attempt_at`, keeping the error.
pub fn schedule_retry(
    conn: &mut DbConnection,
    id: &str,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        mail_outbox::table
            .find(id)
            .filter(mail_outbox::status.eq(PENDING)),
    )
    .set((
        mail_outbox::next_attempt_at.eq(next_attempt_at),
        mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Gives up on a mail: it becomes a dead letter with its last error kept.
pub fn mark_dead(conn: &mut DbConnection, id: &str, error: &str) -> Result<bool, DbError> {
    let changed = diesel::update(
        mail_outbox::table
            .find(id)
            .filter(mail_outbox::status.eq(PENDING)),
    )
    .set((
        mail_outbox::status.eq(DEAD),
        mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Puts dead letters back in the queue with a fresh set of attempts: all of them, or
/// those with the given outbox ids. Returns how many were revived.
pub fn retry_dead(
    conn: &mut DbConnection,
    ids: Option<&[String]>,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    let revive = (
        mail_outbox::status.eq(PENDING),
        mail_outbox::attempts.eq(0),
        mail_outbox::next_attempt_at.eq(at),
        mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
    );
    let dead = mail_outbox::table.filter(mail_outbox::status.eq(DEAD));
    Ok(match ids {
        Some(ids) => diesel::update(dead.filter(mail_outbox::id.eq_any(ids)))
            .set(revive)
            .execute(conn)?,
        None => diesel::update(dead).set(revive).execute(conn)?,
    })
}

/// How the outbox stands, for `cadenza mail status`.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    pub pending: i64,
    pub sent: i64,
    pub dead: i64,
    /// Of the pending mails, how many were tried at least once (failed, or in delivery now).
    pub tried: i64,
    pub oldest_pending_at: Option<NaiveDateTime>,
    /// The most recent dead letters (up to `dead_limit`), newest first.
    pub dead_letters: Vec<OutboxMail>,
}

pub fn status(conn: &mut DbConnection, dead_limit: i64) -> Result<OutboxStatus, DbError> {
    let counts: Vec<(String, i64)> = mail_outbox::table
        .group_by(mail_outbox::status)
        .select((mail_outbox::status, diesel::dsl::count_star()))
        .load(conn)?;
    let count_of = |state: &str| {
        counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let tried = mail_outbox::table
        .filter(mail_outbox::status.eq(PENDING))
        .filter(mail_outbox::attempts.gt(0))
        .count()
        .get_result(conn)?;
    let oldest_pending_at = mail_outbox::table
        .filter(mail_outbox::status.eq(PENDING))
        .select(diesel::dsl::min(mail_outbox::created_at))
        .get_result(conn)?;
    let dead_letters = mail_outbox::table
        .filter(mail_outbox::status.eq(DEAD))
        .order(mail_outbox::id.desc())
        .limit(dead_limit)
        .select(OutboxMail::as_select())
        .load(conn)?;
    Ok(OutboxStatus {
        pending: count_of(PENDING),
        sent: count_of(SENT),
        dead: count_of(DEAD),
        tried,
        oldest_pending_at,
        dead_letters,
    })
}
