//! The market's version: one counter that every write to what the marketplace shows
//! (an offer created, published, withdrawn or expired, with its audience) bumps in
//! the same transaction. A node caches marketplace answers tagged with the version
//! it read *before* computing them, and serves an entry only while the database
//! still holds that version, so no node ever serves an answer older than the last
//! committed change, whichever node made it (the scheme of `postings_cache`).
//!
//! Offers also leave the market by time (their expiry passes before the sweeper
//! marks them): [`next_expiry`] is when the first open offer will, the moment until
//! which an answer computed now can be served.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{market_version, offers};
use super::{DbConnection, DbError};
use crate::domain::listing::OfferState;

/// Bumps the version; call inside the transaction that changes offers.
pub fn bump(conn: &mut DbConnection) -> Result<(), DbError> {
    let changed = diesel::update(market_version::table.find(1))
        .set(market_version::version.eq(market_version::version + 1))
        .execute(conn)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(DbError::Corrupt(
            "market_version has no row (migration 000018 not applied?)".into(),
        ))
    }
}

/// The committed version (one primary-key read).
pub fn read(conn: &mut DbConnection) -> Result<i64, DbError> {
    market_version::table
        .find(1)
        .select(market_version::version)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::Corrupt("market_version has no row".into()))
}

/// When the first published offer's expiry passes (`None`: no published offer).
/// Read after [`read`], so it is at least as new as the version (index
/// `offers_expiry`: one probe).
pub fn next_expiry(conn: &mut DbConnection) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(offers::table
        .filter(offers::status.eq(OfferState::Published.as_str()))
        .select(diesel::dsl::min(offers::expires_at))
        .first(conn)?)
}
