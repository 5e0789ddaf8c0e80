//! Scheduled work inside `cadenza serve`: every interval, one sweep over what
//! time has made due — offers and requests past their expiry, deals to warn
//! about or expire, terms that ended, installments and confirmed royalty
//! statements due or overdue, stale idempotency keys. Sweeps are idempotent and safe on several nodes at once:
//! every change is a conditional write in its own transaction.
//!
//! This is the one module that sweeps; what each sweep does is the owning
//! service's (`crate::marketplace::expire_due`, `crate::deals::schedule::sweep`,
//! `crate::royalties::statements::sweep`, `crate::db::idempotency::forget_expired`).

use std::time::Duration;

use tokio::sync::watch;

use crate::db::marketplace::Expired;
use crate::db::{idempotency, now, Db, DbError};
use crate::deals::schedule::{self, DealSweep};
use crate::deals::DealError;
use crate::royalties::RoyaltiesError;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Offers and requests moved to `expired`.
    pub listings: Expired,
    pub deals: DealSweep,
    /// Confirmed royalty statements moved to due or overdue.
    pub statements_updated: usize,
    pub idempotency_keys_forgotten: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Deals(#[from] DealError),
    #[error(transparent)]
    Royalties(#[from] RoyaltiesError),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// One sweep at the current time.
pub async fn sweep_once(db: &Db) -> Result<SweepReport, SweepError> {
    db.run(|conn| {
        let at = now();
        let listings = crate::marketplace::expire_due(conn, at)?;
        let deals = schedule::sweep(conn, at)?;
        let statements_updated = crate::royalties::statements::sweep(conn, at)?;
        let forgotten = idempotency::forget_expired(conn, at)?;
        Ok(SweepReport {
            listings,
            deals,
            statements_updated,
            idempotency_keys_forgotten: forgotten,
        })
    })
    .await
}

/// Sweeps every `interval` until `shutdown` turns true. A failed sweep is logged and
/// retried at the next tick.
pub async fn run(db: Db, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(interval_secs = interval.as_secs(), "sweeper started");
    loop {
        match sweep_once(&db).await {
            Ok(report) if report != SweepReport::default() => tracing::info!(?report, "sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying next tick"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    tracing::info!("sweeper stopped");
}
