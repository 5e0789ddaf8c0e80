//! A per-process cache of decoded grant recording sets, for the exclusivity
//! check, which otherwise loads and decodes every overlapping grant's set on
//! every executing signature; with the slices' sets by content hash, the unions
//! of grants, and what a slice shares with such a union.
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

/// Decoded recording sets named by their content hash (SHA-256 over the sorted
/// ISRCs, as slices keep it): the hash names the set exactly, so there is nothing
/// to invalidate. Execution reads its slice's recordings from here.
static BY_CONTENT: LazyLock<Cache<String, (Arc<RecordingSet>, u64), BySize>> =
    LazyLock::new(|| Cache::with_weighter(1_024, BUDGET_BYTES, BySize));

/// The set whose content hash is `content_hash`, from this node's cache or
/// `load`ed (and kept).
pub fn recordings_named<E>(
    content_hash: &str,
    load: impl FnOnce() -> Result<RecordingSet, E>,
) -> Result<Arc<RecordingSet>, E> {
    if let Some((set, _)) = BY_CONTENT.get(content_hash) {
        return Ok(set);
    }
    let set = Arc::new(load()?);
    // About the serialized size: a few bytes a recording.
    let weight = set.len().saturating_mul(3);
    BY_CONTENT.insert(content_hash.to_string(), (set.clone(), weight));
    Ok(set)
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
    union_keyed(union_key(grant_ids), unite)
}

fn union_keyed(key: [u8; 32], unite: impl FnOnce() -> RecordingSet) -> Arc<RecordingSet> {
    if let Some(union) = UNIONS.get(&key) {
        return union;
    }
    let union = Arc::new(unite());
    UNIONS.insert(key, union.clone());
    union
}

#[derive(Clone)]
struct SharedBySize;

impl Weighter<[u8; 32], Arc<RecordingSet>> for SharedBySize {
    fn weight(&self, _: &[u8; 32], value: &Arc<RecordingSet>) -> u64 {
        // Usually empty (no conflict): the entry itself still counts.
        (value.len() * 2).max(64)
    }
}

/// What a recording set shares with the union of some grants, keyed by the
/// set's content hash and the grants' ids. Both never change, so neither does
/// the answer: a deal's check at accept and at the executing signature meet the
/// same grants with the same slice, and the second finds the first's answer.
static SHARED: LazyLock<Cache<[u8; 32], Arc<RecordingSet>, SharedBySize>> =
    LazyLock::new(|| Cache::with_weighter(4_096, UNION_BUDGET_BYTES / 4, SharedBySize));

/// The recordings of the set named `content_hash` that these grants' union
/// also has, from this node's cache or worked out by `meet` on the union (itself
/// kept, or built by `unite`).
pub fn shared_with_union<'a>(
    content_hash: &str,
    grant_ids: impl IntoIterator<Item = &'a str>,
    unite: impl FnOnce() -> RecordingSet,
    meet: impl FnOnce(&RecordingSet) -> RecordingSet,
) -> Arc<RecordingSet> {
    use sha2::{Digest, Sha256};
    let union_key = union_key(grant_ids);
    let mut hasher = Sha256::new();
    hasher.update(content_hash.as_bytes());
    hasher.update([0]);
    hasher.update(union_key);
    let key: [u8; 32] = hasher.finalize().into();
    if let Some(shared) = SHARED.get(&key) {
        return shared;
    }
    let shared = Arc::new(meet(&union_keyed(union_key, unite)));
    SHARED.insert(key, shared.clone());
    shared
}

/// Drops every kept union: the next check of each set of grants builds it
/// again (`cadenza bench signing` times that cold check).
pub fn forget_unions() {
    UNIONS.clear();
    SHARED.clear();
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

    #[test]
    fn what_a_set_shares_with_a_union_is_kept_by_set_and_grants() {
        let meet = |union: &RecordingSet| RecordingSet::from_keys([7]).intersection(union);
        let first = shared_with_union(
            "hash-x",
            ["s-b", "s-a"],
            || RecordingSet::from_keys([7, 8]),
            meet,
        );
        assert_eq!(first.len(), 1);
        let again = shared_with_union(
            "hash-x",
            ["s-a", "s-b"],
            || panic!("united twice"),
            |_| panic!("met twice"),
        );
        assert!(Arc::ptr_eq(&first, &again));
        // Another set against the same grants: met again, on the kept union.
        let other = shared_with_union(
            "hash-y",
            ["s-a", "s-b"],
            || panic!("united twice"),
            |union| RecordingSet::from_keys([9]).intersection(union),
        );
        assert!(other.is_empty());
    }

    #[test]
    fn a_set_is_decoded_once_by_its_content_hash() {
        let first =
            recordings_named::<()>("content-z", || Ok(RecordingSet::from_keys([3]))).unwrap();
        let again = recordings_named::<()>("content-z", || panic!("loaded twice")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(
            recordings_named("content-w", || Err("corrupt")).err(),
            Some("corrupt")
        );
    }
}
