//! Stored `Idempotency-Key`s: the first response to a key, scoped to the caller,
//! kept [`RETENTION`]. The HTTP side (fingerprints, replays) is `crate::api::idempotency`.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::{now, DbConnection, DbError};

/// How long a key is remembered.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

/// What a key's first use found.
pub enum Claim {
    Fresh,
    Replay {
        status: u16,
        body: String,
        etag: Option<String>,
    },
    Mismatch,
    InFlight,
}

/// Claims `key` for `user_id`, or reports what an earlier use left.
pub fn claim(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, DbError> {
    let at = now();
    // Expired keys of this caller are forgotten first, so a key may be reused after 24 h.
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::user_id.eq(user_id))
            .filter(idempotency_keys::created_at.lt(at - RETENTION)),
    )
    .execute(conn)?;
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(Claim::Fresh),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            let (stored_fp, status, body, etag): (
                String,
                Option<i32>,
                Option<String>,
                Option<String>,
            ) = idempotency_keys::table
                .find((user_id, key))
                .select((
                    idempotency_keys::fingerprint,
                    idempotency_keys::status_code,
                    idempotency_keys::response_body,
                    idempotency_keys::response_etag,
                ))
                .first(conn)?;
            Ok(match (stored_fp == fingerprint, status, body) {
                (false, _, _) => Claim::Mismatch,
                (true, Some(status), Some(body)) => Claim::Replay {
                    status: status as u16,
                    body,
                    etag,
                },
                _ => Claim::InFlight,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores the answer to a claimed key, for replays.
pub fn record(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    status: u16,
    body: &str,
    etag: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.find((user_id, key)))
        .set((
            idempotency_keys::status_code.eq(Some(i32::from(status))),
            idempotency_keys::response_body.eq(Some(body)),
            idempotency_keys::response_etag.eq(etag),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a claimed key whose request failed on the server, so a retry runs again.
pub fn release(conn: &mut DbConnection, user_id: &str, key: &str) -> Result<(), DbError> {
    diesel::delete(idempotency_keys::table.find((user_id, key))).execute(conn)?;
    Ok(())
}

/// Forgets every key older than [`RETENTION`] at `at`; how many were forgotten.
pub fn forget_expired(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(at - RETENTION)),
    )
    .execute(conn)?)
}
