//! `RecordingSet`: a set of recordings, comparable across catalogs and
//! organizations. Rights are held and granted per recording, and a recording is
//! its ISRC, so the set holds each recording's packed ISRC key
//! ([`Isrc::key`], below 2^49) in a 64-bit Roaring bitmap (`RoaringTreemap`).
//!
//! Track ids ([`crate::domain::trackset::TrackSet`]) are dense per catalog and
//! only mean something inside their catalog; two catalogs holding the same ISRC
//! give it different track ids but the same recording key. Exclusivity,
//! availability and chains of title compare `RecordingSet`s, never track ids.
//!
//! ISRC keys preserve the ISRCs' byte order (digits sort before letters in both),
//! so iterating the set yields ISRCs in ascending `LC_ALL=C sort` order.
//!
//! # Content hash
//!
//! [`RecordingSet::content_hash`] is the lowercase hex SHA-256 of the set's ISRCs
//! in ascending byte order, each followed by one `\n` (the empty set hashes the
//! empty string). Anyone can recompute it from a list of ISRCs, e.g. from the
//! first column of a track CSV:
//!
//! ```sh
//! tail -n +2 tracks.csv | cut -d, -f1 | LC_ALL=C sort | sha256sum
//! ```

use std::fmt;

use roaring::RoaringTreemap;
use sha2::{Digest, Sha256};

use super::isrc::Isrc;
use super::trackset::TrackSetError;

/// How many ISRC lines are hashed per buffer.
const HASH_CHUNK: usize = 16 * 1024;

/// A set of recordings, by packed ISRC key.
#[derive(Clone, Default, PartialEq)]
pub struct RecordingSet(RoaringTreemap);

impl RecordingSet {
    pub fn new() -> Self {
        Self(RoaringTreemap::new())
    }

    /// The recordings of these ISRC keys (negative keys, which no ISRC has, are skipped).
    pub fn from_keys(keys: impl IntoIterator<Item = i64>) -> Self {
        let mut keys: Vec<u64> = keys
            .into_iter()
            .filter_map(|k| u64::try_from(k).ok())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        match RoaringTreemap::from_sorted_iter(keys) {
            Ok(set) => Self(set),
            Err(_) => unreachable!("keys were sorted and deduplicated"),
        }
    }

    /// Keys `range.start..range.end` (tests and benchmarks).
    pub fn from_range(range: std::ops::Range<u64>) -> Self {
        let mut set = RoaringTreemap::new();
        set.insert_range(range);
        Self(set)
    }

    pub fn insert(&mut self, key: i64) -> bool {
        u64::try_from(key).is_ok_and(|k| self.0.insert(k))
    }

    pub fn contains(&self, key: i64) -> bool {
        u64::try_from(key).is_ok_and(|k| self.0.contains(k))
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keys in ascending (= ISRC byte) order.
    pub fn keys(&self) -> impl Iterator<Item = i64> + '_ {
        // Every stored key came from an i64 >= 0, so the conversion never saturates.
        self.0.iter().map(|k| i64::try_from(k).unwrap_or(i64::MAX))
    }

    /// ISRCs in ascending order; a key no ISRC maps to (only possible in a
    /// corrupt stored set) is skipped.
    pub fn isrcs(&self) -> impl Iterator<Item = Isrc> + '_ {
        self.keys().filter_map(Isrc::from_key)
    }

    /// Up to `limit` keys strictly greater than `after`, ascending.
    pub fn page_after(&self, after: Option<i64>, limit: usize) -> Vec<i64> {
        let start = match after {
            None => 0,
            Some(a) if a < 0 => 0,
            Some(a) => a as u64 + 1,
        };
        let mut it = self.0.iter();
        it.advance_to(start);
        it.take(limit)
            .map(|k| i64::try_from(k).unwrap_or(i64::MAX))
            .collect()
    }

    /// The first `n` ISRCs (for conflict reports and previews).
    pub fn sample(&self, n: usize) -> Vec<i64> {
        self.keys().take(n).collect()
    }

    pub fn intersection(&self, other: &RecordingSet) -> RecordingSet {
        Self(&self.0 & &other.0)
    }

    pub fn union(&self, other: &RecordingSet) -> RecordingSet {
        Self(&self.0 | &other.0)
    }

    pub fn difference(&self, other: &RecordingSet) -> RecordingSet {
        Self(&self.0 - &other.0)
    }

    /// The union of many sets in one pass (Roaring's multi-way union combines
    /// each container position once, instead of re-walking a growing result
    /// per set).
    pub fn union_of<'a>(sets: impl IntoIterator<Item = &'a RecordingSet>) -> RecordingSet {
        use roaring::MultiOps;
        Self(sets.into_iter().map(|s| &s.0).union())
    }

    pub fn union_with(&mut self, other: &RecordingSet) {
        self.0 |= &other.0;
    }

    pub fn subtract(&mut self, other: &RecordingSet) {
        self.0 -= &other.0;
    }

    /// Roaring merges the two sets container by container, which costs the
    /// bigger set's container count however small the other is: with ISRC keys
    /// spread over many containers, checking a 1.5M-recording deal against a
    /// thousand small grants walked 25 million containers. A set far smaller
    /// than the other is instead looked up key by key.
    pub fn intersection_len(&self, other: &RecordingSet) -> u64 {
        match Self::lopsided(self, other) {
            Some((small, big)) => small.0.iter().filter(|k| big.0.contains(*k)).count() as u64,
            None => self.0.intersection_len(&other.0),
        }
    }

    pub fn is_disjoint(&self, other: &RecordingSet) -> bool {
        match Self::lopsided(self, other) {
            Some((small, big)) => !small.0.iter().any(|k| big.0.contains(k)),
            None => self.0.is_disjoint(&other.0),
        }
    }

    /// The smaller and the bigger set when one is under 1/64 of the other.
    fn lopsided<'a>(
        a: &'a RecordingSet,
        b: &'a RecordingSet,
    ) -> Option<(&'a RecordingSet, &'a RecordingSet)> {
        let (small, big) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        (small.len().saturating_mul(64) < big.len()).then_some((small, big))
    }

    pub fn is_subset(&self, other: &RecordingSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The Roaring 64-bit portable serialization (as CRoaring's `roaring64` reads it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.serialized_size());
        match self.0.serialize_into(&mut out) {
            Ok(()) => out,
            Err(_) => unreachable!("serializing into a Vec<u8> is infallible"),
        }
    }

    /// Reads [`RecordingSet::to_bytes`]; the whole input must be one set.
    pub fn from_bytes(bytes: &[u8]) -> Result<RecordingSet, TrackSetError> {
        let mut reader = bytes;
        let set = RoaringTreemap::deserialize_from(&mut reader)
            .map_err(|e| TrackSetError::Corrupt(e.to_string()))?;
        if !reader.is_empty() {
            return Err(TrackSetError::TrailingBytes(reader.len()));
        }
        Ok(Self(set))
    }

    /// See the module documentation: SHA-256 of `ISRC\n` lines in ascending order.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buf = Vec::with_capacity(HASH_CHUNK * 13);
        for isrc in self.isrcs() {
            buf.extend_from_slice(isrc.as_str().as_bytes());
            buf.push(b'\n');
            if buf.len() >= HASH_CHUNK * 13 {
                hasher.update(&buf);
                buf.clear();
            }
        }
        hasher.update(&buf);
        hex::encode(hasher.finalize())
    }
}

impl fmt::Debug for RecordingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordingSet({} recordings", self.len())?;
        let first: Vec<String> = self.isrcs().take(3).map(Isrc::into_string).collect();
        if !first.is_empty() {
            write!(f, ": {}", first.join(", "))?;
            if self.len() > 3 {
                f.write_str(", …")?;
            }
        }
        f.write_str(")")
    }
}

impl FromIterator<i64> for RecordingSet {
    fn from_iter<I: IntoIterator<Item = i64>>(iter: I) -> Self {
        Self::from_keys(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn isrc(s: &str) -> Isrc {
        Isrc::parse(s).expect("valid ISRC")
    }

    #[test]
    fn the_hash_is_over_sorted_isrc_lines() {
        let set: RecordingSet = ["USRC17607839", "CNA012400001", "GBAYE0000351"]
            .iter()
            .map(|s| isrc(s).key())
            .collect();
        let expected = hex::encode(Sha256::digest(
            b"CNA012400001\nGBAYE0000351\nUSRC17607839\n",
        ));
        assert_eq!(set.content_hash(), expected);
        assert_eq!(
            RecordingSet::new().content_hash(),
            hex::encode(Sha256::digest(b""))
        );
    }

    #[test]
    fn bytes_round_trip_and_trailing_bytes_are_refused() {
        let set = RecordingSet::from_keys([5, 1 << 40, 3, (1 << 48) + 7]);
        let bytes = set.to_bytes();
        assert_eq!(RecordingSet::from_bytes(&bytes), Ok(set));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(RecordingSet::from_bytes(&longer).is_err());
        assert!(RecordingSet::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn pages_follow_key_order_and_negative_keys_are_never_members() {
        let set = RecordingSet::from_keys([9, 1, 4, -3]);
        assert_eq!(set.len(), 3);
        assert!(!set.contains(-3));
        assert_eq!(set.page_after(None, 2), vec![1, 4]);
        assert_eq!(set.page_after(Some(4), 10), vec![9]);
        assert_eq!(set.page_after(Some(9), 10), Vec::<i64>::new());
    }

    proptest! {
        // Key order is ISRC byte order, so the set iterates ISRCs sorted as `sort` would.
        #[test]
        fn keys_iterate_in_isrc_byte_order(keys in proptest::collection::vec(0i64..(26 * 26 * 36 * 36 * 36 * 10_000_000), 0..200)) {
            let set = RecordingSet::from_keys(keys.iter().copied());
            let listed: Vec<String> = set.isrcs().map(Isrc::into_string).collect();
            let mut sorted: Vec<String> = keys.iter().filter_map(|&k| Isrc::from_key(k)).map(Isrc::into_string).collect();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(listed, sorted);
        }

        #[test]
        fn lopsided_sets_intersect_like_even_ones(big in proptest::collection::btree_set(0i64..1_000_000, 0..3_000), small in proptest::collection::btree_set(0i64..1_000_000, 0..20)) {
            let sb = RecordingSet::from_keys(big.iter().copied());
            let ss = RecordingSet::from_keys(small.iter().copied());
            let expected = big.intersection(&small).count() as u64;
            prop_assert_eq!(sb.intersection_len(&ss), expected);
            prop_assert_eq!(ss.intersection_len(&sb), expected);
            prop_assert_eq!(sb.is_disjoint(&ss), expected == 0);
            prop_assert_eq!(ss.is_disjoint(&sb), expected == 0);
        }

        #[test]
        fn a_multi_way_union_is_every_pairwise_union(sets in proptest::collection::vec(proptest::collection::btree_set(0i64..5_000_000_000, 0..60), 0..6)) {
            let as_sets: Vec<RecordingSet> = sets.iter().map(|s| s.iter().copied().collect()).collect();
            let expected: std::collections::BTreeSet<i64> = sets.iter().flatten().copied().collect();
            let got = RecordingSet::union_of(&as_sets);
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), expected.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn set_algebra_matches_btreesets(a in proptest::collection::btree_set(0i64..5_000_000_000, 0..100), b in proptest::collection::btree_set(0i64..5_000_000_000, 0..100)) {
            let sa = RecordingSet::from_keys(a.iter().copied());
            let sb = RecordingSet::from_keys(b.iter().copied());
            prop_assert_eq!(sa.intersection_len(&sb), a.intersection(&b).count() as u64);
            prop_assert_eq!(sa.difference(&sb).keys().collect::<Vec<_>>(), a.difference(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(sa.is_disjoint(&sb), a.is_disjoint(&b));
            prop_assert_eq!(sa.union(&sb).len(), a.union(&b).count() as u64);
        }
    }
}
