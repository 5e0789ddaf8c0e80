//! `TrackSet`: a set of dense per-catalog track ids, backed by a Roaring
//! bitmap so that membership, overlap and counts over millions of tracks take
//! milliseconds instead of table scans.
//!
//! Ids are the catalog's dense `u32` track ids (0, 1, 2, … in import order), not
//! database row ids: the denser and more clustered they are, the smaller the
//! bitmap. A slice whose tracks sit in a few contiguous id ranges (whole labels
//! imported together) costs a few hundred KiB at 1.5 million tracks; the worst
//! case, ids spread uniformly at random, costs at most 8 KiB per 65,536 ids of
//! the catalog's id space (about 1.9 MiB for a 15-million-track catalog).
//!
//! Persisted form (`to_bytes`): the standard Roaring *portable* serialization, so
//! any Roaring implementation (CRoaring, Java, Go) can read it. `from_bytes`
//! also accepts portable bytes written with run containers.
//!
//! Content hash (`content_hash`): lowercase hex SHA-256 of the set's ids in
//! increasing order, each as 4 little-endian bytes (the empty set hashes the
//! empty string). It depends only on which ids are in the set — never on
//! insertion order, container choice, run optimization or the Roaring library
//! version — and anyone can recompute it from a plain id list.

use std::fmt;

use roaring::RoaringBitmap;
use sha2::{Digest, Sha256};

/// How many ids are hashed per buffer: large enough to amortize the hasher
/// call, small enough to stay in L1/L2 cache.
const HASH_CHUNK_IDS: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackSetError {
    #[error("not a valid Roaring bitmap: {0}")]
    Corrupt(String),
    #[error("{0} unexpected byte(s) after the Roaring bitmap")]
    TrailingBytes(usize),
}

/// A set of dense per-catalog track ids.
#[derive(Clone, Default, PartialEq)]
pub struct TrackSet(RoaringBitmap);

impl TrackSet {
    pub fn new() -> Self {
        Self(RoaringBitmap::new())
    }

    pub fn from_bitmap(bitmap: RoaringBitmap) -> Self {
        Self(bitmap)
    }

    /// Ids `range.start..range.end` (used for whole-catalog sets built at import).
    pub fn from_range(range: std::ops::Range<u32>) -> Self {
        let mut b = RoaringBitmap::new();
        b.insert_range(range);
        Self(b)
    }

    pub fn as_bitmap(&self) -> &RoaringBitmap {
        &self.0
    }

    pub fn into_bitmap(self) -> RoaringBitmap {
        self.0
    }

    /// Adds an id; returns whether it was new. Appending increasing ids is the
    /// fast path (the import assigns ids in order).
    pub fn insert(&mut self, id: u32) -> bool {
        self.0.push(id) || self.0.insert(id)
    }

    pub fn remove(&mut self, id: u32) -> bool {
        self.0.remove(id)
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.0.contains(id)
    }

    pub fn min(&self) -> Option<u32> {
        self.0.min()
    }

    pub fn max(&self) -> Option<u32> {
        self.0.max()
    }

    /// Ids in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter()
    }

    pub fn intersection(&self, other: &TrackSet) -> TrackSet {
        TrackSet(&self.0 & &other.0)
    }

    pub fn union(&self, other: &TrackSet) -> TrackSet {
        TrackSet(&self.0 | &other.0)
    }

    pub fn difference(&self, other: &TrackSet) -> TrackSet {
        TrackSet(&self.0 - &other.0)
    }

    /// The union of many sets in one pass. Folding with `union_with` re-merges
    /// a growing sorted array per 65,536-id chunk at every step, which is
    /// quadratic over hundreds of small postings (the days of a date range);
    /// this promotes each chunk to a bitmap once and ORs into it.
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a TrackSet>) -> TrackSet {
        use roaring::MultiOps;
        TrackSet(sets.into_iter().map(|s| &s.0).union())
    }

    /// In-place forms, so folding many postings does not allocate a set per step.
    pub fn intersect_with(&mut self, other: &TrackSet) {
        self.0 &= &other.0;
    }

    pub fn union_with(&mut self, other: &TrackSet) {
        self.0 |= &other.0;
    }

    pub fn subtract(&mut self, other: &TrackSet) {
        self.0 -= &other.0;
    }

    /// Size of the intersection without building it.
    pub fn intersection_len(&self, other: &TrackSet) -> u64 {
        self.0.intersection_len(&other.0)
    }

    pub fn is_disjoint(&self, other: &TrackSet) -> bool {
        self.0.is_disjoint(&other.0)
    }

    /// Whether every id of `self` is in `other`.
    pub fn is_subset(&self, other: &TrackSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Up to `limit` ids in increasing order, strictly greater than `after`
    /// (`None` starts at the beginning). The cursor is the last id of the
    /// previous page; seeking is logarithmic in the number of containers, so a
    /// page deep into millions of ids costs the same as the first.
    pub fn page_after(&self, after: Option<u32>, limit: usize) -> Vec<u32> {
        let start = match after {
            None => 0,
            Some(u32::MAX) => return Vec::new(),
            Some(a) => a + 1,
        };
        let mut it = self.0.iter();
        it.advance_to(start);
        it.take(limit).collect()
    }

    /// The first `n` ids in increasing order (for conflict reports and previews).
    pub fn sample(&self, n: usize) -> Vec<u32> {
        self.0.iter().take(n).collect()
    }

    /// Byte length of `to_bytes()` without producing it.
    pub fn serialized_size(&self) -> usize {
        self.0.serialized_size()
    }

    /// Roaring portable serialization.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.serialized_size());
        // Writing into a Vec cannot fail; the match keeps `unwrap` out of non-test code.
        match self.0.serialize_into(&mut out) {
            Ok(()) => out,
            Err(_) => unreachable!("serializing into a Vec<u8> is infallible"),
        }
    }

    /// Reads the Roaring portable serialization (with or without run
    /// containers). The whole input must be one bitmap.
    pub fn from_bytes(bytes: &[u8]) -> Result<TrackSet, TrackSetError> {
        let mut reader = bytes;
        let bitmap = RoaringBitmap::deserialize_from(&mut reader)
            .map_err(|e| TrackSetError::Corrupt(e.to_string()))?;
        if !reader.is_empty() {
            return Err(TrackSetError::TrailingBytes(reader.len()));
        }
        Ok(TrackSet(bitmap))
    }

    /// Lowercase hex SHA-256 of the ids in increasing order as little-endian
    /// `u32`s (see the module comment for why this canonical form).
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buf = Vec::with_capacity(HASH_CHUNK_IDS * 4);
        for id in self.0.iter() {
            buf.extend_from_slice(&id.to_le_bytes());
            if buf.len() == HASH_CHUNK_IDS * 4 {
                hasher.update(&buf);
                buf.clear();
            }
        }
        hasher.update(&buf);
        hex::encode(hasher.finalize())
    }
}

impl fmt::Debug for TrackSet {
    // Never dump millions of ids into a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        let first = self.sample(SHOWN);
        if self.len() as usize > SHOWN {
            write!(f, "TrackSet({} ids: {:?}…)", self.len(), first)
        } else {
            write!(f, "TrackSet({first:?})")
        }
    }
}

impl FromIterator<u32> for TrackSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        TrackSet(iter.into_iter().collect())
    }
}

impl Extend<u32> for TrackSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl From<RoaringBitmap> for TrackSet {
    fn from(bitmap: RoaringBitmap) -> Self {
        TrackSet(bitmap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn naive_hash(ids: &BTreeSet<u32>) -> String {
        let mut h = Sha256::new();
        for id in ids {
            h.update(id.to_le_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Deterministic pseudo-random numbers for the large fixtures.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move || rng.gen()
    }

    #[test]
    fn empty_set_hashes_the_empty_string() {
        assert_eq!(
            TrackSet::new().content_hash(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hash_is_the_little_endian_id_stream() {
        let set: TrackSet = [1u32, 256].into_iter().collect();
        let mut h = Sha256::new();
        h.update([1, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(set.content_hash(), hex::encode(h.finalize()));
    }

    #[test]
    fn hash_crosses_chunk_boundaries() {
        let ids: BTreeSet<u32> = (0..(HASH_CHUNK_IDS as u32 * 2 + 17))
            .map(|i| i * 3)
            .collect();
        let set: TrackSet = ids.iter().copied().collect();
        assert_eq!(set.content_hash(), naive_hash(&ids));
    }

    /// Portable bytes with one run container holding 0..=9999, as CRoaring
    /// writes after `runOptimize` (cookie 12347, one container, run flag set,
    /// key 0, cardinality-1 9999, one run [0, length-1 = 9999]).
    fn run_container_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&12347u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes()); // containers - 1
        b.push(0b1); // container 0 is a run container
        b.extend_from_slice(&0u16.to_le_bytes()); // key
        b.extend_from_slice(&9999u16.to_le_bytes()); // cardinality - 1
        b.extend_from_slice(&1u16.to_le_bytes()); // number of runs
        b.extend_from_slice(&0u16.to_le_bytes()); // run start
        b.extend_from_slice(&9999u16.to_le_bytes()); // run length - 1
        b
    }

    #[test]
    fn run_optimized_input_has_the_same_hash_and_ids() {
        let from_runs = TrackSet::from_bytes(&run_container_bytes()).expect("valid run bytes");
        let plain = TrackSet::from_range(0..10_000);
        assert_eq!(from_runs, plain);
        assert_eq!(from_runs.content_hash(), plain.content_hash());
        // Re-serialized in the portable form without runs, it still round-trips.
        let again = TrackSet::from_bytes(&from_runs.to_bytes()).expect("round trip");
        assert_eq!(again.content_hash(), plain.content_hash());
    }

    #[test]
    fn corrupt_and_trailing_bytes_are_refused() {
        assert!(matches!(
            TrackSet::from_bytes(&[1, 2, 3]),
            Err(TrackSetError::Corrupt(_))
        ));
        let mut bytes = TrackSet::from_range(5..9).to_bytes();
        bytes.push(0);
        assert_eq!(
            TrackSet::from_bytes(&bytes),
            Err(TrackSetError::TrailingBytes(1))
        );
    }

    #[test]
    fn set_operations() {
        let a: TrackSet = [1, 2, 3, 4].into_iter().collect();
        let b: TrackSet = [3, 4, 5].into_iter().collect();
        assert_eq!(a.intersection(&b).iter().collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(a.union(&b).len(), 5);
        assert_eq!(a.difference(&b).iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(a.intersection_len(&b), 2);
        assert!(a.intersection(&b).is_subset(&a));
        assert!(!a.is_subset(&b));
        assert!(!a.is_disjoint(&b));
        assert!(a.contains(1) && !a.contains(5));
    }

    #[test]
    fn page_after_edges() {
        let set: TrackSet = [0, 7, u32::MAX].into_iter().collect();
        assert_eq!(set.page_after(None, 2), vec![0, 7]);
        assert_eq!(set.page_after(Some(0), 10), vec![7, u32::MAX]);
        assert_eq!(set.page_after(Some(3), 1), vec![7]);
        assert_eq!(set.page_after(Some(u32::MAX), 10), Vec::<u32>::new());
        assert_eq!(set.page_after(None, 0), Vec::<u32>::new());
        assert_eq!(set.sample(2), vec![0, 7]);
    }

    #[test]
    fn debug_output_is_bounded() {
        let big = TrackSet::from_range(0..1_000_000);
        let s = format!("{big:?}");
        assert!(s.len() < 100, "{s}");
        assert!(s.contains("1000000 ids"));
    }

    #[test]
    fn label_clustered_slice_of_one_and_a_half_million_serializes_under_one_mib() {
        // A 15M-track catalog imported label by label: 300 labels of 50,000
        // consecutive ids. The slice takes 30 whole labels, minus a sprinkle of
        // excluded tracks.
        let mut next = rng(42);
        let mut slice = TrackSet::new();
        let mut labels: Vec<u32> = (0..300).collect();
        for i in 0..30 {
            let j = i + (next() % (300 - i as u64)) as usize;
            labels.swap(i, j);
        }
        for &label in &labels[..30] {
            let start = label * 50_000;
            slice.union_with(&TrackSet::from_range(start..start + 50_000));
        }
        for _ in 0..5_000 {
            slice.remove((next() % 15_000_000) as u32);
        }
        assert!(slice.len() > 1_490_000);
        let bytes = slice.to_bytes();
        assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
        assert_eq!(TrackSet::from_bytes(&bytes).expect("round trip"), slice);
    }

    #[test]
    fn uniformly_spread_slice_stays_within_the_bitmap_bound() {
        // Worst case: 1.5M ids uniformly over 0..15M. Every 65,536-id chunk is
        // a full 8 KiB bitmap container: 229 chunks ≈ 1.83 MiB.
        // One id in every run of ten consecutive ids, at a random offset:
        // built already sorted, which keeps this cheap in debug builds.
        let mut next = rng(7);
        let slice: TrackSet = RoaringBitmap::from_sorted_iter(
            (0..1_500_000u32).map(|i| i * 10 + (next() % 10) as u32),
        )
        .expect("sorted")
        .into();
        assert_eq!(slice.len(), 1_500_000);
        let size = slice.to_bytes().len();
        assert!(size < 2 * 1024 * 1024, "{size} bytes");
        assert_eq!(size, slice.serialized_size());
    }

    proptest! {
        #[test]
        fn bytes_round_trip(ids in proptest::collection::vec(any::<u32>(), 0..2_000),
                            run in 0u32..200_000, run_len in 0u32..20_000) {
            let mut set: TrackSet = ids.into_iter().collect();
            set.union_with(&TrackSet::from_range(run..run + run_len));
            let back = TrackSet::from_bytes(&set.to_bytes()).expect("round trip");
            prop_assert_eq!(&back, &set);
            prop_assert_eq!(back.content_hash(), set.content_hash());
        }

        #[test]
        fn hash_ignores_insertion_order_and_duplicates(
            ids in proptest::collection::vec(0u32..300_000, 0..3_000),
        ) {
            let forward: TrackSet = ids.iter().copied().collect();
            let mut backward = TrackSet::new();
            for &id in ids.iter().rev() {
                backward.insert(id);
                backward.insert(id);
            }
            let canonical: BTreeSet<u32> = ids.iter().copied().collect();
            prop_assert_eq!(forward.content_hash(), backward.content_hash());
            prop_assert_eq!(forward.content_hash(), naive_hash(&canonical));
        }

        #[test]
        fn page_after_walks_every_id_exactly_once(
            ids in proptest::collection::btree_set(any::<u32>(), 0..1_500),
            limit in 1usize..200,
        ) {
            let set: TrackSet = ids.iter().copied().collect();
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = set.page_after(cursor, limit);
                prop_assert!(page.len() <= limit);
                if page.is_empty() {
                    break;
                }
                cursor = page.last().copied();
                seen.extend(page);
            }
            prop_assert_eq!(seen, ids.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn union_all_is_the_folded_union(
            sets in proptest::collection::vec(
                proptest::collection::btree_set(0u32..200_000, 0..400), 0..12),
            run in 0u32..150_000, run_len in 0u32..70_000,
        ) {
            let mut sets: Vec<TrackSet> =
                sets.into_iter().map(|s| s.into_iter().collect()).collect();
            sets.push(TrackSet::from_range(run..run + run_len));
            let mut folded = TrackSet::new();
            for s in &sets {
                folded.union_with(s);
            }
            let all = TrackSet::union_all(sets.iter());
            prop_assert_eq!(&all, &folded);
            prop_assert_eq!(all.to_bytes(), folded.to_bytes());
        }

        #[test]
        fn operations_match_btreeset(
            a in proptest::collection::btree_set(0u32..5_000, 0..500),
            b in proptest::collection::btree_set(0u32..5_000, 0..500),
        ) {
            let sa: TrackSet = a.iter().copied().collect();
            let sb: TrackSet = b.iter().copied().collect();
            let inter: Vec<u32> = a.intersection(&b).copied().collect();
            prop_assert_eq!(sa.intersection(&sb).iter().collect::<Vec<_>>(), inter.clone());
            prop_assert_eq!(sa.intersection_len(&sb), inter.len() as u64);
            prop_assert_eq!(sa.union(&sb).len(), a.union(&b).count() as u64);
            prop_assert_eq!(
                sa.difference(&sb).iter().collect::<Vec<_>>(),
                a.difference(&b).copied().collect::<Vec<_>>()
            );
            prop_assert_eq!(sa.is_subset(&sb), a.is_subset(&b));
        }
    }
}
