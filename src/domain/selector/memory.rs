//! An attribute index held in memory, built from tracks or loaded from
//! persisted postings rows.

use super::*;

/// One track as the index needs it.
#[derive(Debug, Clone, Copy)]
pub struct IndexedTrack<'a> {
    pub id: u32,
    pub isrc: &'a Isrc,
    pub label: &'a str,
    pub artists: &'a [String],
    pub genre: &'a str,
    pub release_date: NaiveDate,
}

/// An attribute index held in memory: built from tracks (import, tests) or
/// from persisted postings rows (the loaded form of the database index).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryIndex {
    // Behind `Arc` so a loader can hand in postings shared with a per-node
    // cache without copying multi-megabyte bitmaps; built indexes own theirs
    // (refcount 1), so `Arc::make_mut` never copies during a build.
    pub(super) all: Arc<TrackSet>,
    pub(super) labels: BTreeMap<String, Arc<TrackSet>>,
    pub(super) artists: BTreeMap<String, Arc<TrackSet>>,
    pub(super) genres: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`year_key`].
    pub(super) years: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`month_key`]; empty when `date_postings` is `YearsDays`.
    pub(super) months: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`date_key`]; ISO order is date order.
    pub(super) dates: BTreeMap<String, Arc<TrackSet>>,
    /// Whether `months` is meaningful (see [`DatePostings`]).
    pub(super) date_postings: DatePostings,
    pub(super) isrcs: HashMap<Isrc, u32>,
}

impl MemoryIndex {
    pub fn builder() -> MemoryIndexBuilder {
        MemoryIndexBuilder::default()
    }

    pub fn from_tracks<'a>(tracks: impl IntoIterator<Item = IndexedTrack<'a>>) -> MemoryIndex {
        let mut b = MemoryIndexBuilder::default();
        for t in tracks {
            b.add_track(t);
        }
        b.build()
    }

    fn map(&self, kind: AttributeKind) -> Option<&BTreeMap<String, Arc<TrackSet>>> {
        match kind {
            AttributeKind::All => None,
            AttributeKind::Label => Some(&self.labels),
            AttributeKind::Artist => Some(&self.artists),
            AttributeKind::Genre => Some(&self.genres),
            AttributeKind::ReleaseYear => Some(&self.years),
            AttributeKind::ReleaseMonth => Some(&self.months),
            AttributeKind::ReleaseDate => Some(&self.dates),
        }
    }

    /// One posting, as stored.
    pub fn posting(&self, kind: AttributeKind, key: &str) -> Option<&TrackSet> {
        match self.map(kind) {
            None => (key.is_empty()).then_some(&*self.all),
            Some(m) => m.get(key).map(|set| &**set),
        }
    }

    /// Every posting, one per (kind, key): the rows a database persists, with
    /// `tracks.to_bytes()` as the value. Order: by kind, then key.
    pub fn postings(&self) -> impl Iterator<Item = (AttributeKind, &str, &TrackSet)> + '_ {
        let all = std::iter::once((AttributeKind::All, "", &*self.all));
        let keyed = AttributeKind::ALL.into_iter().flat_map(move |kind| {
            self.map(kind)
                .into_iter()
                .flat_map(move |m| m.iter().map(move |(k, v)| (kind, k.as_str(), &**v)))
        });
        all.chain(keyed)
    }

    /// Consumes the index into its postings (as [`MemoryIndex::postings`], owned), so
    /// a bulk writer need not copy every bitmap.
    pub fn into_postings(self) -> impl Iterator<Item = (AttributeKind, String, TrackSet)> {
        let all = std::iter::once((AttributeKind::All, String::new(), unshare(self.all)));
        let keyed = [
            (AttributeKind::Label, self.labels),
            (AttributeKind::Artist, self.artists),
            (AttributeKind::Genre, self.genres),
            (AttributeKind::ReleaseYear, self.years),
            (AttributeKind::ReleaseMonth, self.months),
            (AttributeKind::ReleaseDate, self.dates),
        ]
        .into_iter()
        .flat_map(|(kind, map)| map.into_iter().map(move |(k, v)| (kind, k, unshare(v))));
        all.chain(keyed)
    }

    /// How many tracks the index knows.
    pub fn track_count(&self) -> u64 {
        self.all.len()
    }
}

/// The set itself: moved out when the index held the only reference (an
/// index built from tracks), copied when a cache shares it.
pub(super) fn unshare(set: Arc<TrackSet>) -> TrackSet {
    Arc::try_unwrap(set).unwrap_or_else(|shared| (*shared).clone())
}

impl AttributeIndex for MemoryIndex {
    fn all(&self) -> Cow<'_, TrackSet> {
        Cow::Borrowed(&self.all)
    }

    fn label(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.labels.get(key).map(|set| Cow::Borrowed(&**set))
    }

    fn artist(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.artists.get(key).map(|set| Cow::Borrowed(&**set))
    }

    fn genre(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.genres.get(key).map(|set| Cow::Borrowed(&**set))
    }

    fn date_postings(&self) -> DatePostings {
        self.date_postings
    }

    fn release_postings(&self, range: &PostingRange) -> Vec<Cow<'_, TrackSet>> {
        let map = match range.kind {
            AttributeKind::ReleaseYear => &self.years,
            AttributeKind::ReleaseMonth => &self.months,
            AttributeKind::ReleaseDate => &self.dates,
            _ => return Vec::new(),
        };
        if range.from_key > range.to_key {
            return Vec::new();
        }
        map.range(range.from_key.clone()..=range.to_key.clone())
            .map(|(_, set)| Cow::Borrowed(&**set))
            .collect()
    }

    fn ids_for_isrcs(&self, isrcs: &[Isrc]) -> (TrackSet, Vec<Isrc>) {
        let mut ids = TrackSet::new();
        let mut unknown = Vec::new();
        for isrc in isrcs {
            match self.isrcs.get(isrc) {
                Some(&id) => {
                    ids.insert(id);
                }
                None => unknown.push(isrc.clone()),
            }
        }
        (ids, unknown)
    }
}

/// Builds a [`MemoryIndex`] from tracks, from persisted postings, or both
/// (sets for the same key are united, so new imports can be merged in).
#[derive(Debug, Default)]
pub struct MemoryIndexBuilder {
    index: MemoryIndex,
}

pub(super) fn add_id(map: &mut BTreeMap<String, Arc<TrackSet>>, key: String, id: u32) {
    Arc::make_mut(map.entry(key).or_default()).insert(id);
}

impl MemoryIndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes one track under every posting it belongs to. Values are folded
    /// with [`fold_key`]; blank artists are skipped.
    pub fn add_track(&mut self, track: IndexedTrack<'_>) {
        self.add_attributes(&track);
        self.index.isrcs.insert(track.isrc.clone(), track.id);
    }

    /// Indexes a track's attributes but not its ISRC: what a bulk import needs
    /// (the track table resolves ISRCs; keeping 15M of them here would cost ~1 GB).
    pub fn add_attributes(&mut self, track: &IndexedTrack<'_>) {
        let ix = &mut self.index;
        let id = track.id;
        Arc::make_mut(&mut ix.all).insert(id);
        add_id(&mut ix.labels, fold_key(track.label), id);
        for artist in track.artists {
            let key = fold_key(artist);
            if !key.is_empty() {
                add_id(&mut ix.artists, key, id);
            }
        }
        add_id(&mut ix.genres, fold_key(track.genre), id);
        let released = track.release_date;
        add_id(&mut ix.years, year_key(released.year()), id);
        add_id(
            &mut ix.months,
            month_key(released.year(), released.month()),
            id,
        );
        add_id(&mut ix.dates, date_key(released), id);
    }

    /// Adds a persisted posting (united with what is there). Year, month and
    /// date keys must be in [`year_key`] / [`month_key`] / [`date_key`] form,
    /// the `all` key empty. Taken by value: a loaded posting is moved in, not
    /// copied.
    pub fn add_posting(
        &mut self,
        kind: AttributeKind,
        key: &str,
        tracks: TrackSet,
    ) -> Result<(), PostingError> {
        self.add_shared_posting(kind, key, Arc::new(tracks))
    }

    /// As [`MemoryIndexBuilder::add_posting`], for a posting shared with a
    /// cache: kept by reference, copied only if it must be united with another
    /// set for the same key.
    pub fn add_shared_posting(
        &mut self,
        kind: AttributeKind,
        key: &str,
        tracks: Arc<TrackSet>,
    ) -> Result<(), PostingError> {
        let invalid = || PostingError::InvalidKey {
            kind,
            key: key.to_string(),
        };
        let ix = &mut self.index;
        let map = match kind {
            AttributeKind::All => {
                if !key.is_empty() {
                    return Err(invalid());
                }
                if ix.all.is_empty() {
                    ix.all = tracks;
                } else {
                    Arc::make_mut(&mut ix.all).union_with(&tracks);
                }
                return Ok(());
            }
            AttributeKind::Label => &mut ix.labels,
            AttributeKind::Artist => &mut ix.artists,
            AttributeKind::Genre => &mut ix.genres,
            AttributeKind::ReleaseYear => {
                let ok = key.len() == 4 && key.bytes().all(|b| b.is_ascii_digit());
                if !ok {
                    return Err(invalid());
                }
                &mut ix.years
            }
            AttributeKind::ReleaseMonth => {
                if !is_month_key(key) {
                    return Err(invalid());
                }
                &mut ix.months
            }
            AttributeKind::ReleaseDate => {
                if parse_date_key(key).is_none() {
                    return Err(invalid());
                }
                &mut ix.dates
            }
        };
        match map.entry(key.to_string()) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(tracks);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                Arc::make_mut(e.get_mut()).union_with(&tracks)
            }
        }
        Ok(())
    }

    /// Declares which date postings the index holds. A loader sets
    /// [`DatePostings::YearsDays`] for a catalog without month postings, so
    /// that [`evaluate`] cuts date ranges into postings that exist. (The
    /// default, `YearsMonthsDays`, is right for indexes built from tracks.)
    pub fn date_postings(&mut self, dates: DatePostings) {
        self.index.date_postings = dates;
    }

    /// Records the id of one ISRC (the database resolves a selector's ISRCs
    /// against its track table and hands them over here).
    pub fn add_isrc(&mut self, isrc: Isrc, id: u32) {
        self.index.isrcs.insert(isrc, id);
    }

    pub fn build(self) -> MemoryIndex {
        self.index
    }
}
