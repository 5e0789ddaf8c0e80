//! The per-process facet cache of [`super::offer_facets_cached`]: every page and
//! sort of one filter shares its facets. Entries carry the market version they were
//! computed at (`db::market_version`, bumped by every offer write on any node), so a
//! change made through another node is never answered from here.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{OfferFacets, OfferFilter};

/// How long an entry may serve: offers also leave the market by time (expiry).
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache is emptied (viewers × distinct filters).
const MAX_ENTRIES: usize = 4_096;

type Key = (String, OfferFilter, i64);
struct Entry {
    version: i64,
    at: Instant,
    facets: OfferFacets,
}

static ENTRIES: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();

fn entries() -> &'static Mutex<HashMap<Key, Entry>> {
    ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Facets computed at exactly market version `version`, not older than the TTL.
pub fn get(viewer: &str, filter: &OfferFilter, top: i64, version: i64) -> Option<OfferFacets> {
    let map = entries().lock().ok()?;
    let entry = map.get(&(viewer.to_string(), filter.clone(), top))?;
    (entry.version == version && entry.at.elapsed() < TTL).then(|| entry.facets.clone())
}

/// Stores facets computed from data read after market version `version` was read.
pub fn put(viewer: &str, filter: &OfferFilter, top: i64, version: i64, facets: OfferFacets) {
    if let Ok(mut map) = entries().lock() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            (viewer.to_string(), filter.clone(), top),
            Entry {
                version,
                at: Instant::now(),
                facets,
            },
        );
    }
}
