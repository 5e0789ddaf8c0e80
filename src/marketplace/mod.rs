//! The marketplace's operations: offers ([`offers`]) and requests
//! ([`requests`]), each change in its own write transaction with its audit event
//! and notifications, and the matching of one against the other. The rules
//! (listing states, allowed actions, what covers what) are `crate::domain::listing`;
//! storage is `crate::db::marketplace`; `crate::api::{offers, requests, marketplace}`
//! parse, call and render.

pub mod offers;
pub mod requests;

use chrono::NaiveDateTime;

use crate::db::marketplace::{self as storage, Expired, MarketRequest, Offer};
use crate::db::{stored_json, write_transaction, DbConnection, DbError};
pub use crate::domain::account::Author;
use crate::domain::listing::{Audience, Price, Scope};
use crate::domain::market_rules::RuleBreaches;
use crate::domain::period::Period;
use crate::domain::ValidationErrors;

/// Everything a marketplace operation can refuse, or fail with.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("the request has invalid fields")]
    Validation(#[from] ValidationErrors),
    /// The terms break the operator's market rules: `errors` holds every field problem
    /// (the breaches' among them, under `terms.…`), `breaches` the rules broken.
    #[error("the terms break a market rule: {breaches}")]
    MarketRules {
        errors: ValidationErrors,
        breaches: RuleBreaches,
    },
    /// Absent, or not the caller's to see or change.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The listing's state does not allow the action.
    #[error("{detail}")]
    NotAllowed {
        detail: String,
        state: &'static str,
        allowed_actions: Vec<&'static str>,
    },
    /// Clashes with the listing's data (an expiry that passed).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] DbError),
    /// A value could not be serialized for storage.
    #[error("{0}")]
    Internal(String),
}

/// Expires every offer and request whose expiry has passed, in one transaction.
/// Idempotent; run by `crate::sweeper`.
pub fn expire_due(conn: &mut DbConnection, at: NaiveDateTime) -> Result<Expired, DbError> {
    write_transaction(conn, |conn| storage::expire_due(conn, at))
}

/// Every target of a targeted audience must be an existing organization (field
/// `visibility[i]`, `i` indexing `requested`, the ids as given).
pub fn check_targets(
    conn: &mut DbConnection,
    requested: &[String],
    audience: &Audience,
) -> Result<(), MarketError> {
    let targets: Vec<&str> = audience.targets.iter().map(String::as_str).collect();
    let known = storage::organization_names(conn, &targets)?;
    let mut errors = ValidationErrors::new();
    for (i, id) in requested.iter().enumerate() {
        if !known.contains_key(id) && audience.targets.contains(id) {
            errors.push(format!("visibility[{i}]"), "no organization has this id");
        }
    }
    Ok(errors.into_result()?)
}

/// An offer's asking scope, read from its row.
pub fn offer_scope(offer: &Offer) -> Result<Scope, DbError> {
    Ok(Scope {
        territories: stored_json("offers.territories", &offer.territories)?,
        usages: stored_json("offers.usages", &offer.usages)?,
        period: Period::new(offer.start_date, offer.end_date)
            .map_err(|e| DbError::Corrupt(format!("offer period: {e}")))?,
    })
}

/// What a request asks for, read from its row.
pub fn request_scope(request: &MarketRequest) -> Result<Scope, DbError> {
    Ok(Scope {
        territories: stored_json("requests.territories", &request.territories)?,
        usages: stored_json("requests.usages", &request.usages)?,
        period: Period::new(request.start_date, request.end_date)
            .map_err(|e| DbError::Corrupt(format!("request period: {e}")))?,
    })
}

/// Whether `offer` can license everything `request` asks for
/// (`crate::domain::listing::offer_covers` on the stored rows).
pub fn offer_covers(offer: &Offer, request: &MarketRequest) -> Result<bool, DbError> {
    Ok(crate::domain::listing::offer_covers(
        &offer_scope(offer)?,
        &request_scope(request)?,
    ))
}

/// Whether the offer's asking price fits the request's budget
/// (`crate::domain::listing::within_budget` on the stored rows).
pub fn within_budget(offer: &Offer, request: &MarketRequest) -> Option<bool> {
    crate::domain::listing::within_budget(
        Price {
            currency: &offer.currency,
            minor: offer.asking_minor,
        },
        request.budget_minor.map(|minor| Price {
            currency: &request.currency,
            minor,
        }),
    )
}

/// One candidate of a matching: how many requested tracks it covers, its id (the
/// tie-break), and what the caller keeps about it.
pub type Match<T> = (u64, String, T);
