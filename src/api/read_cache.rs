//! Per-node caches of rendered read answers: the marketplace's (browse, one offer,
//! a page of its tracks, who offers a recording) and the deal room's.
//!
//! Platforms browse far more often than anyone writes, and an answer is a pure
//! function of (the caller's organization, the request, the state it read). Each
//! entry is tagged with the version of that state read *before* computing it:
//!
//! - marketplace answers with the market version (`db::market_version`), bumped in
//!   the transaction of every offer write on any node, and valid only until the
//!   first open offer's expiry passes (offers leave the market by time too);
//! - a deal with the deal's own `version`, which every transition bumps (the If-Match
//!   version), keyed by the caller's organization and role (allowed actions differ).
//!
//! A request reads the current version (one primary-key read) and is served from
//! the cache only on an exact match, so a node never serves an answer older than
//! the last committed change, whichever node made it. Errors are never cached.
//! Hits and misses per view are on `/metrics` (`cadenza_read_cache_lookups_total`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use chrono::NaiveDateTime;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use serde::Serialize;

use super::caller::Claimed;
use super::problem::ApiError;
use super::state::AppState;
use crate::db::{market_version, DbConnection, DbError};

/// Bytes counted per entry beyond its body (key, map slot); never zero.
const ENTRY_OVERHEAD_BYTES: u64 = 128;

/// The answers cached, each counted apart on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Browse,
    Offer,
    OfferTracks,
    OffersOfTrack,
    Deal,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Browse,
        View::Offer,
        View::OfferTracks,
        View::OffersOfTrack,
        View::Deal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Browse => "browse",
            View::Offer => "offer",
            View::OfferTracks => "offer_tracks",
            View::OffersOfTrack => "offers_of_track",
            View::Deal => "deal",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The state an answer was computed from: a version, and for the marketplace the
/// moment it stops being true by time alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub version: i64,
    pub valid_until: Option<NaiveDateTime>,
}

/// What an answer is cached under: built once per request, looked up, then stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    view: View,
    /// The caller's organization (and role, for a deal).
    viewer: String,
    /// What was asked: the path's id and the raw query string.
    request: String,
}

impl Key {
    pub fn new(view: View, viewer: String, request: String) -> Self {
        Self {
            view,
            viewer,
            request,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: Stamp,
    body: Bytes,
    weight: u64,
}

#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<Key, Entry> for ByBytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        entry.weight
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

pub struct ReadCache {
    /// `None` when the budget is 0: nothing cached, every read computed.
    entries: Option<Cache<Key, Entry, ByBytes>>,
    counters: [Counters; View::ALL.len()],
    /// The first open offer's expiry as of a market version: it can only change
    /// with the version, so it is read once per version, not once per request.
    market_expiry: Mutex<Option<(i64, Option<NaiveDateTime>)>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("enabled", &self.entries.is_some())
            .finish()
    }
}

impl ReadCache {
    /// A cache of at most `budget_bytes` of answers; 0 disables it.
    pub fn new(budget_bytes: u64) -> Self {
        let entries = (budget_bytes > 0).then(|| {
            let estimated_items = usize::try_from(budget_bytes / (8 * 1024))
                .unwrap_or(usize::MAX)
                .clamp(64, 1 << 16);
            Cache::with_weighter(estimated_items, budget_bytes, ByBytes)
        });
        Self {
            entries,
            counters: Default::default(),
            market_expiry: Mutex::new(None),
        }
    }

    /// The market's current stamp: its version, read now, and the first expiry of
    /// an open offer at that version.
    ///
    /// Reusing the expiry read for the same version on an earlier request is safe:
    /// it was read after that version, and any change that would make it wrong
    /// (a withdrawal, a publication) bumped the version, which this read then sees.
    pub fn market_stamp(&self, conn: &mut DbConnection) -> Result<Stamp, DbError> {
        let version = market_version::read(conn)?;
        if let Some((v, expiry)) = self.remembered_expiry() {
            if v == version {
                return Ok(Stamp {
                    version,
                    valid_until: expiry,
                });
            }
        }
        let expiry = market_version::next_expiry(conn)?;
        if let Ok(mut memo) = self.market_expiry.lock() {
            *memo = Some((version, expiry));
        }
        Ok(Stamp {
            version,
            valid_until: expiry,
        })
    }

    fn remembered_expiry(&self) -> Option<(i64, Option<NaiveDateTime>)> {
        *self.market_expiry.lock().ok()?
    }

    /// The answer cached for exactly `stamp.version`, if it is still valid `now`.
    pub fn get(&self, key: &Key, stamp: Stamp, now: NaiveDateTime) -> Option<Bytes> {
        let entries = self.entries.as_ref()?;
        let counters = &self.counters[key.view.index()];
        match entries.get(key) {
            Some(entry)
                if entry.stamp.version == stamp.version
                    && entry.stamp.valid_until.is_none_or(|until| now < until) =>
            {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry.body)
            }
            _ => {
                counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps an answer computed from the state of `stamp` (read before computing).
    pub fn put(&self, key: Key, stamp: Stamp, body: Bytes) {
        let Some(entries) = self.entries.as_ref() else {
            return;
        };
        let weight =
            ENTRY_OVERHEAD_BYTES + (key.viewer.len() + key.request.len() + body.len()) as u64;
        entries.insert(
            key,
            Entry {
                stamp,
                body,
                weight,
            },
        );
    }

    /// (view, hits, misses) for `/metrics`.
    pub fn lookups(&self) -> Vec<(View, u64, u64)> {
        View::ALL
            .iter()
            .map(|&view| {
                let c = &self.counters[view.index()];
                (
                    view,
                    c.hits.load(Ordering::Relaxed),
                    c.misses.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// The answer for `request` from the cache when it was computed at `stamp`, else
/// `compute`d, rendered as JSON and kept. Runs on the database thread of the request.
pub fn answer<T, F>(
    cache: &ReadCache,
    view: View,
    viewer: String,
    request: String,
    stamp: Stamp,
    conn: &mut DbConnection,
    compute: F,
) -> Result<Bytes, ApiError>
where
    T: Serialize,
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
{
    let key = Key::new(view, viewer, request);
    if let Some(body) = cache.get(&key, stamp, crate::db::now()) {
        return Ok(body);
    }
    let value = compute(conn)?;
    let body =
        Bytes::from(serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?);
    cache.put(key, stamp, body.clone());
    Ok(body)
}

/// A marketplace read for the caller's organization, served from this node's cache
/// while the market is at the version it was computed at (see the module's text).
/// The caller is resolved in the same unit of database work. `compute` gets the
/// caller's organization id.
pub async fn market_answer<T, F>(
    state: &AppState,
    view: View,
    claimed: Claimed,
    request: String,
    compute: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize,
    F: FnOnce(&mut DbConnection, &str) -> Result<T, ApiError> + Send + 'static,
{
    let cache = state.read_cache.clone();
    let body = state
        .db
        .run(move |conn| {
            let viewer = claimed.resolve(conn)?.organization_id().to_string();
            let stamp = cache.market_stamp(conn)?;
            let org = viewer.clone();
            answer(&cache, view, viewer, request, stamp, conn, move |conn| {
                compute(conn, &org)
            })
        })
        .await?;
    Ok(json_body(body))
}

/// A rendered JSON answer, byte for byte what `HttpResponse::json` would send.
pub fn json_body(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .expect("valid time")
    }

    fn stamp(version: i64, valid_until: Option<NaiveDateTime>) -> Stamp {
        Stamp {
            version,
            valid_until,
        }
    }

    #[test]
    fn an_entry_serves_only_its_own_version_and_until_its_expiry() {
        let cache = ReadCache::new(1 << 20);
        let s = stamp(7, Some(at(12)));
        cache.put(
            Key::new(View::Browse, "org".into(), "q".into()),
            s,
            Bytes::from_static(b"A"),
        );
        assert_eq!(
            cache.get(&Key::new(View::Browse, "org".into(), "q".into()), s, at(11)),
            Some(Bytes::from_static(b"A"))
        );
        assert_eq!(
            cache.get(
                &Key::new(View::Browse, "org".into(), "q".into()),
                stamp(8, Some(at(12))),
                at(11)
            ),
            None
        );
        assert_eq!(
            cache.get(&Key::new(View::Browse, "org".into(), "q".into()), s, at(12)),
            None,
            "expired at its instant"
        );
        assert_eq!(
            cache.get(
                &Key::new(View::Browse, "other".into(), "q".into()),
                s,
                at(11)
            ),
            None,
            "per organization"
        );
        assert_eq!(
            cache.get(&Key::new(View::Offer, "org".into(), "q".into()), s, at(11)),
            None,
            "per view"
        );
        assert_eq!(
            cache.get(
                &Key::new(View::Browse, "org".into(), "q2".into()),
                s,
                at(11)
            ),
            None,
            "per request"
        );
        let browse = cache.lookups()[0];
        assert_eq!((browse.0, browse.1, browse.2), (View::Browse, 1, 4));
    }

    #[test]
    fn no_expiry_means_valid_while_the_version_holds() {
        let cache = ReadCache::new(1 << 20);
        let s = stamp(1, None);
        cache.put(
            Key::new(View::Deal, "org|signer".into(), "d".into()),
            s,
            Bytes::from_static(b"D"),
        );
        assert!(cache
            .get(
                &Key::new(View::Deal, "org|signer".into(), "d".into()),
                s,
                at(23)
            )
            .is_some());
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let cache = ReadCache::new(0);
        let s = stamp(1, None);
        cache.put(
            Key::new(View::Browse, "o".into(), "q".into()),
            s,
            Bytes::from_static(b"A"),
        );
        assert_eq!(
            cache.get(&Key::new(View::Browse, "o".into(), "q".into()), s, at(1)),
            None
        );
    }
}
