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
