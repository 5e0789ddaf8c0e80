//! A per-node cache of decoded postings, so that selectors repeated or edited
//! on one catalog do not fetch and decode the same bitmaps again.
//!
//! PostgreSQL hands postings over at ~380 MB/s (TOAST chunk reads, see
//! docs/performance.md): the widest selectors spend most of their time there,
//! not in the bitmap algebra.
//!
//! Correctness with several `serve` nodes on one database rests on
//! `catalogs.postings_version`: every write to a catalog's postings bumps it in
//! the same transaction ([`super::catalogs::merge_postings`]). An evaluation reads
//! the version *before* it reads any posting, and only uses entries tagged with
//! that version; postings it fetches are tagged with it too. Postings read after
//! the version are at least as new as it (read committed), so an entry tagged `v`
//! never holds postings older than version `v`, and a reader that has seen a
//! newer version never uses it. A node therefore never serves postings older
//! than what the database had committed when the evaluation started, whatever
//! the other nodes write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::domain::selector::AttributeKind;
use crate::domain::trackset::TrackSet;

/// Default budget: 256 MiB holds the postings a handful of wide selectors read
/// on a 15M-track catalog (the 100-artist selector reads ~40 MiB decoded).
pub const DEFAULT_BUDGET_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes counted per entry on top of its bitmap: key, `Arc`, map slot. Never
/// zero, so every entry can be evicted (quick_cache never evicts weight 0).
const ENTRY_OVERHEAD_BYTES: u64 = 96;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PostingKey {
    catalog_no: i64,
    kind: AttributeKind,
    key: String,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The catalog's `postings_version` the set was read at (or after).
    version: i64,
    set: Arc<TrackSet>,
    /// Computed once: the weigher runs during eviction and must be cheap.
    weight: u64,
}

#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<PostingKey, Entry> for ByBytes {
    fn weight(&self, _key: &PostingKey, entry: &Entry) -> u64 {
        entry.weight
    }
}

/// Decoded postings by (catalog, kind, key), tagged with the catalog's
/// postings version, within a byte budget (S3-FIFO eviction, by quick_cache).
pub struct PostingsCache {
    /// `None` when the budget is 0: caching disabled.
    entries: Option<Cache<PostingKey, Entry, ByBytes>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for PostingsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostingsCache")
            .field("budget_bytes", &self.budget_bytes())
            .field("weight_bytes", &self.weight_bytes())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl PostingsCache {
    /// A cache holding at most `budget_bytes` of bitmaps (plus a small
    /// per-entry overhead); 0 disables it. The budget is split over a few
    /// shards, so one posting bigger than a shard's share is not kept.
    pub fn new(budget_bytes: u64) -> Self {
        let entries = (budget_bytes > 0).then(|| {
            // A sizing hint only (postings run from bytes to a few MiB).
            let estimated_items = usize::try_from(budget_bytes / (16 * 1024))
                .unwrap_or(usize::MAX)
                .clamp(64, 1 << 16);
            Cache::with_weighter(estimated_items, budget_bytes, ByBytes)
        });
        Self {
            entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// No caching: every posting is read from the database (tools, tests).
    pub fn disabled() -> Self {
        Self::new(0)
    }

    pub fn is_enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The posting if cached at exactly `version`. An entry of another version
    /// is a miss: the caller fetches the posting and [`PostingsCache::insert`]s
    /// it, replacing the old entry.
    pub fn get(
        &self,
        catalog_no: i64,
        version: i64,
        kind: AttributeKind,
        key: &str,
    ) -> Option<Arc<TrackSet>> {
        let entries = self.entries.as_ref()?;
        let lookup = PostingKey {
            catalog_no,
            kind,
            key: key.to_string(),
        };
        match entries.get(&lookup) {
            Some(entry) if entry.version == version => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry.set)
            }
            _ => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps a posting read at `version` (see the module documentation for why
    /// the version must have been read before the posting).
    pub fn insert(
        &self,
        catalog_no: i64,
        version: i64,
        kind: AttributeKind,
        key: &str,
        set: Arc<TrackSet>,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        let weight = set.serialized_size() as u64 + key.len() as u64 + ENTRY_OVERHEAD_BYTES;
        entries.insert(
            PostingKey {
                catalog_no,
                kind,
                key: key.to_string(),
            },
            Entry {
                version,
                set,
                weight,
            },
        );
    }

    /// The configured budget in bytes (0 when disabled).
    pub fn budget_bytes(&self) -> u64 {
        self.entries.as_ref().map_or(0, Cache::capacity)
    }

    /// Bytes currently held, as weighed.
    pub fn weight_bytes(&self) -> u64 {
        self.entries.as_ref().map_or(0, Cache::weight)
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(range: std::ops::Range<u32>) -> Arc<TrackSet> {
        Arc::new(TrackSet::from_range(range))
    }

    #[test]
    fn a_hit_shares_the_stored_set() {
        let cache = PostingsCache::new(1 << 20);
        let stored = set(0..1_000);
        cache.insert(1, 3, AttributeKind::Label, "emi", stored.clone());
        let hit = cache
            .get(1, 3, AttributeKind::Label, "emi")
            .expect("a hit at the same version");
        assert!(Arc::ptr_eq(&hit, &stored), "a hit must not copy the bitmap");
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn entries_are_per_catalog_kind_and_key() {
        let cache = PostingsCache::new(1 << 20);
        cache.insert(1, 0, AttributeKind::Label, "emi", set(0..10));
        assert!(cache.get(2, 0, AttributeKind::Label, "emi").is_none());
        assert!(cache.get(1, 0, AttributeKind::Artist, "emi").is_none());
        assert!(cache.get(1, 0, AttributeKind::Label, "sony").is_none());
        assert_eq!(cache.misses(), 3);
    }

    #[test]
    fn a_version_change_invalidates() {
        let cache = PostingsCache::new(1 << 20);
        cache.insert(1, 3, AttributeKind::Genre, "pop", set(0..10));
        // The catalog was imported into (by this node or another): version 4.
        assert!(cache.get(1, 4, AttributeKind::Genre, "pop").is_none());
        cache.insert(1, 4, AttributeKind::Genre, "pop", set(0..20));
        let fresh = cache
            .get(1, 4, AttributeKind::Genre, "pop")
            .expect("the new version is cached");
        assert_eq!(fresh.len(), 20);
        // The new entry replaced the old one rather than sitting beside it.
        assert_eq!(cache.len(), 1);
        // A reader that saw the old version does not get the old set back either.
        assert!(cache.get(1, 3, AttributeKind::Genre, "pop").is_none());
    }

    #[test]
    fn the_budget_evicts() {
        // Bitmap containers: 65,536 dense ids serialize to ~8 KiB.
        let one = set(0..65_536);
        let weight = one.serialized_size() as u64;
        assert!(weight > 8_000);
        let budget = 64 * 1024;
        let cache = PostingsCache::new(budget);
        for i in 0..64 {
            cache.insert(
                1,
                0,
                AttributeKind::Artist,
                &format!("a{i:02}"),
                one.clone(),
            );
            assert!(
                cache.weight_bytes() <= cache.budget_bytes(),
                "{} bytes held, budget {}",
                cache.weight_bytes(),
                cache.budget_bytes()
            );
        }
        // 64 postings of ~8 KiB cannot all stay within 64 KiB.
        assert!(cache.len() < 64, "{} entries kept", cache.len());
        let kept = (0..64)
            .filter(|i| {
                cache
                    .get(1, 0, AttributeKind::Artist, &format!("a{i:02}"))
                    .is_some()
            })
            .count();
        assert!(kept > 0 && kept < 64, "{kept} kept");
    }

    #[test]
    fn a_zero_budget_disables_caching() {
        let cache = PostingsCache::disabled();
        assert!(!cache.is_enabled());
        cache.insert(1, 0, AttributeKind::Label, "emi", set(0..10));
        assert!(cache.get(1, 0, AttributeKind::Label, "emi").is_none());
        assert!(cache.is_empty());
    }
}
