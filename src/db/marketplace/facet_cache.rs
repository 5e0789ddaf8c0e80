//! The per-process facet cache of [`super::offer_facets_cached`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{OfferFacets, OfferFilter};

/// How long an entry may serve, bounding staleness across nodes.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache is emptied (viewers × distinct filters).
const MAX_ENTRIES: usize = 4_096;

type Key = (String, OfferFilter, i64);
struct Entry {
    generation: u64,
    at: Instant,
    facets: OfferFacets,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);
static ENTRIES: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();

fn entries() -> &'static Mutex<HashMap<Key, Entry>> {
    ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Any offer changed: entries computed before now are no longer served.
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

pub fn get(viewer: &str, filter: &OfferFilter, top: i64) -> Option<OfferFacets> {
    let map = entries().lock().ok()?;
    let entry = map.get(&(viewer.to_string(), filter.clone(), top))?;
    (entry.generation == generation() && entry.at.elapsed() < TTL).then(|| entry.facets.clone())
}

/// Stores facets computed from data read at `generation` (a write that raced
/// the computation leaves the entry unusable rather than stale).
pub fn put(viewer: &str, filter: &OfferFilter, top: i64, generation: u64, facets: OfferFacets) {
    if let Ok(mut map) = entries().lock() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            (viewer.to_string(), filter.clone(), top),
            Entry {
                generation,
                at: Instant::now(),
                facets,
            },
        );
    }
}
