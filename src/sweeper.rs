//! The marketplace sweeper: moves offers and requests whose expiry has passed to
//! `expired`, so their state is true in the database (for lists of one's own
//! listings, exports and other nodes), not only hidden on read. It runs inside
//! `cadenza serve`; [`sweep_once`] is the same work for tests and scripts.

use std::time::Duration;

use tokio::sync::watch;

use crate::db::marketplace::{self, Expired};
use crate::db::{now, write_transaction, Db, DbError};

/// One sweep, in one transaction.
pub async fn sweep_once(db: &Db) -> Result<Expired, DbError> {
    db.run(|conn| write_transaction(conn, |conn| marketplace::expire_due(conn, now())))
        .await
}

/// Sweeps every `every` until `stopped` turns true. A failed sweep is logged and
/// retried at the next tick: the update is idempotent.
pub async fn run(db: Db, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        match sweep_once(&db).await {
            Ok(e) if e.offers + e.requests > 0 => {
                tracing::info!(offers = e.offers, requests = e.requests, "expired listings")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "marketplace sweep failed; retrying next tick"),
        }
    }
}
