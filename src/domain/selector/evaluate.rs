//! Evaluating a validated selector: bitmap algebra over the postings of an
//! [`AttributeIndex`], never a look at track rows.

use super::*;

/// Read access to one catalog's postings. Methods return `Cow` so an
/// in-memory index lends its sets while a loader may hand over owned ones.
/// Every set returned must be a subset of `all()`.
pub trait AttributeIndex {
    /// Every track of the catalog.
    fn all(&self) -> Cow<'_, TrackSet>;
    /// Tracks whose label folds to `key`; `None` when the catalog has no such label.
    fn label(&self, key: &str) -> Option<Cow<'_, TrackSet>>;
    /// Tracks with an artist folding to `key`.
    fn artist(&self, key: &str) -> Option<Cow<'_, TrackSet>>;
    /// Tracks whose genre folds to `key`.
    fn genre(&self, key: &str) -> Option<Cow<'_, TrackSet>>;
    /// Which release-date postings the index holds; [`evaluate`] only asks
    /// [`AttributeIndex::release_postings`] for those kinds.
    fn date_postings(&self) -> DatePostings;
    /// Every posting of `range.kind` (release year, month or date) whose key is
    /// in the range. Keys with no tracks have no posting.
    fn release_postings(&self, range: &PostingRange) -> Vec<Cow<'_, TrackSet>>;
    /// The ids of the given ISRCs in this catalog, and the ISRCs it lacks.
    fn ids_for_isrcs(&self, isrcs: &[Isrc]) -> (TrackSet, Vec<Isrc>);
}

pub(super) fn attribute<'a>(
    index: &'a impl AttributeIndex,
    field: SelectorField,
    key: &str,
) -> Option<Cow<'a, TrackSet>> {
    match field {
        SelectorField::Labels => index.label(key),
        SelectorField::Artists => index.artist(key),
        SelectorField::Genres => index.genre(key),
    }
}

/// Tracks released in `from..=to` (either end open).
pub(super) fn released_in(
    index: &impl AttributeIndex,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> TrackSet {
    let sets: Vec<Cow<'_, TrackSet>> = release_date_cover(from, to, index.date_postings())
        .iter()
        .flat_map(|range| index.release_postings(range))
        .collect();
    TrackSet::union_all(sets.iter().map(|s| s.as_ref()))
}

pub(super) fn dedup_isrcs(mut isrcs: Vec<Isrc>) -> Vec<Isrc> {
    isrcs.sort_unstable();
    isrcs.dedup();
    isrcs
}

/// Computes a selector's track set by bitmap operations over the index (see
/// the module documentation for the rules).
pub fn evaluate(selector: &ValidatedSelector, index: &impl AttributeIndex) -> SelectorResult {
    let mut unknown_values = Vec::new();
    // `None` until some attribute filter applies.
    let mut base: Option<TrackSet> = None;

    for field in SelectorField::ALL {
        let values = selector.values(field);
        if values.is_empty() {
            continue;
        }
        let mut found = Vec::with_capacity(values.len());
        for v in values {
            match attribute(index, field, &v.key) {
                Some(set) => found.push(set),
                None => unknown_values.push(UnknownValue {
                    field,
                    value: v.value.clone(),
                }),
            }
        }
        let matched = TrackSet::union_all(found.iter().map(|s| s.as_ref()));
        base = Some(match base {
            None => matched,
            Some(mut b) => {
                b.intersect_with(&matched);
                b
            }
        });
    }

    if selector.has_date_filter() {
        // Skip the date postings when the other filters already matched nothing.
        let skip = base.as_ref().is_some_and(TrackSet::is_empty);
        if !skip {
            let dated = released_in(index, selector.released_from, selector.released_to);
            base = Some(match base {
                None => dated,
                Some(mut b) => {
                    b.intersect_with(&dated);
                    b
                }
            });
        }
    }

    let mut tracks = match base {
        Some(b) => b,
        None if selector.starts_from_whole_catalog() => index.all().into_owned(),
        None => TrackSet::new(),
    };

    let mut unknown_isrcs = Vec::new();
    if !selector.include_isrcs.is_empty() {
        let (ids, unknown) = index.ids_for_isrcs(&selector.include_isrcs);
        tracks.union_with(&ids);
        unknown_isrcs = dedup_isrcs(unknown);
    }
    let mut unknown_exclude_isrcs = Vec::new();
    if !selector.exclude_isrcs.is_empty() {
        let (ids, unknown) = index.ids_for_isrcs(&selector.exclude_isrcs);
        tracks.subtract(&ids);
        unknown_exclude_isrcs = dedup_isrcs(unknown);
    }

    SelectorResult {
        tracks,
        unknown_values,
        unknown_isrcs,
        unknown_exclude_isrcs,
    }
}
