//! A per-process cache of decoded grant recording sets, for the exclusivity
//! check, which otherwise loads and decodes every overlapping grant's set on
//! every executing signature.
//!
//! Nothing to invalidate: a grant's recordings are written once (at execution,
//! or by the startup backfill for older grants) and never change. Termination
//! and completion move a grant's dates, which are read from the row each time,
//! never from here. Weighted by serialized size, within a byte budget (S3-FIFO
//! eviction, by quick_cache), so a node's memory stays bounded.

use std::sync::{Arc, LazyLock};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::domain::recording::RecordingSet;

/// Bytes of decoded sets a node keeps (about the serialized size).
const BUDGET_BYTES: u64 = 256 << 20;

#[derive(Clone)]
struct BySize;

impl Weighter<String, (Arc<RecordingSet>, u64)> for BySize {
    fn weight(&self, _: &String, value: &(Arc<RecordingSet>, u64)) -> u64 {
        value.1.max(1)
    }
}

static CACHE: LazyLock<Cache<String, (Arc<RecordingSet>, u64), BySize>> =
    LazyLock::new(|| Cache::with_weighter(16_384, BUDGET_BYTES, BySize));

pub fn get(grant_id: &str) -> Option<Arc<RecordingSet>> {
    CACHE.get(grant_id).map(|(set, _)| set)
}

pub fn put(grant_id: &str, set: Arc<RecordingSet>, serialized_bytes: usize) {
    CACHE.insert(grant_id.to_string(), (set, serialized_bytes as u64));
}

/// Bytes of united sets a node keeps.
const UNION_BUDGET_BYTES: u64 = 256 << 20;

#[derive(Clone)]
struct UnionBySize;

impl Weighter<[u8; 32], Arc<RecordingSet>> for UnionBySize {
    fn weight(&self, _: &[u8; 32], value: &Arc<RecordingSet>) -> u64 {
        // About the serialized size: a few bytes a recording, never zero.
        (value.len() * 2).max(1)
    }
}

/// Unions of several grants' sets, keyed by the grants' ids. Grants never
/// change recordings, so the union of a given set of grants never changes
/// either: nothing to invalidate. A deal is checked against the same grants at
/// submit, accept and the executing signature, and a licensor's next deal over
/// the same window usually meets the same grants again.
static UNIONS: LazyLock<Cache<[u8; 32], Arc<RecordingSet>, UnionBySize>> =
    LazyLock::new(|| Cache::with_weighter(64, UNION_BUDGET_BYTES, UnionBySize));

/// The key of a set of grants: SHA-256 over their sorted ids.
fn union_key<'a>(grant_ids: impl IntoIterator<Item = &'a str>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = grant_ids.into_iter().collect();
    ids.sort_unstable();
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// The union of these grants' recordings, from this node's cache or built by
/// `unite` (and kept).
pub fn union_of<'a>(
    grant_ids: impl IntoIterator<Item = &'a str>,
    unite: impl FnOnce() -> RecordingSet,
) -> Arc<RecordingSet> {
    let key = union_key(grant_ids);
    if let Some(union) = UNIONS.get(&key) {
        return union;
    }
    let union = Arc::new(unite());
    UNIONS.insert(key, union.clone());
    union
}

/// Drops every kept union: the next check of each set of grants builds it
/// again (`cadenza bench signing` times that cold check).
pub fn forget_unions() {
    UNIONS.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_union_is_kept_by_its_grants_whatever_their_order() {
        let built = union_of(["g-b", "g-a"], || RecordingSet::from_keys([1, 2]));
        let again = union_of(["g-a", "g-b"], || panic!("built twice"));
        assert!(Arc::ptr_eq(&built, &again));
        let other = union_of(["g-a"], || RecordingSet::from_keys([1]));
        assert_eq!(other.len(), 1);
    }
}
