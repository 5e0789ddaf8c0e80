//! Slice selectors: which tracks of one catalog a slice holds, and how that
//! set is computed from the catalog's attribute index.
//!
//! # Semantics
//!
//! A selector is `{labels, artists, genres, released_from, released_to,
//! include_isrcs, exclude_isrcs}`, every field optional:
//!
//! 1. **Within one attribute the values are OR-ed**: `labels: [A, B]` is every
//!    track of label A or label B. A track with several artists matches when
//!    any of its artists is listed.
//! 2. **Across attributes they are AND-ed**: labels ∧ artists ∧ genres ∧ date range.
//! 3. **Release dates** `released_from` / `released_to` are inclusive; either may
//!    be absent (open-ended).
//! 4. **Base set**: the AND of the attribute filters given. With no attribute
//!    filter, the base is the whole catalog — unless `include_isrcs` is given,
//!    in which case the base is empty, so that an uploaded ISRC list selects
//!    exactly those tracks (otherwise an ISRC-list slice would be the whole
//!    catalog). The empty selector `{}` is the whole catalog.
//! 5. **Then `include_isrcs` are added** (union), **then `exclude_isrcs` removed**:
//!    an ISRC in both lists is excluded — exclude wins.
//! 6. An empty list (`labels: []`) is the same as an absent one: no filter.
//!
//! Label, artist and genre values match **exactly after trimming Unicode white
//! space and case folding** ([`fold_key`]): `" Sony Music "` matches `sony
//! music`, `"Straße"` matches `STRASSE`, but `"Sony"` does not match `Sony
//! Music`, and accents are significant. Duplicates (after folding) count once.
//!
//! Values that are not in the catalog match nothing and are reported back in
//! [`SelectorResult::unknown_values`] (and unknown ISRCs in `unknown_isrcs` /
//! `unknown_exclude_isrcs`) so the UI can warn; they are not an error.
//!
//! Unknown JSON fields are refused, because a misspelt filter (`"lables"`)
//! would otherwise silently select the whole catalog.
//!
//! # Evaluation
//!
//! [`evaluate`] is only bitmap algebra over postings of an [`AttributeIndex`]
//! (one [`TrackSet`] per label, artist, genre, release year and release date);
//! it never looks at track rows. Whole years in a date range use the year
//! postings; only the two boundary years need per-date postings.
//!
//! A database layer can either implement [`AttributeIndex`] itself, or fetch
//! exactly the postings rows named by [`ValidatedSelector::needed_postings`]
//! (plus the ids of the selector's ISRCs), load them into a [`MemoryIndex`]
//! with [`MemoryIndexBuilder`], and evaluate against that.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::isrc::Isrc;
use crate::domain::trackset::TrackSet;
use crate::domain::ValidationErrors;

/// Most values one attribute list (labels, artists, genres) may hold.
pub const MAX_ATTRIBUTE_VALUES: usize = 100;
/// Most ISRCs each of `include_isrcs` and `exclude_isrcs` may hold.
pub const MAX_ISRCS: usize = 2_000_000;
/// Longest label, artist or genre value, in characters (as for tracks).
pub const MAX_VALUE_CHARS: usize = 200;
/// Field errors listed per ISRC list before the rest are summarized, so a
/// wrong 2-million-line upload does not produce a 2-million-entry response.
pub const MAX_ISRC_ERRORS_LISTED: usize = 100;

/// A slice selector as clients send it. See the module documentation for the
/// semantics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Record labels; a track matches if its label is any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Artists; a track matches if any of its artists is any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artists: Option<Vec<String>>,
    /// Genres; a track matches if its genre is any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genres: Option<Vec<String>>,
    /// Earliest release date, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_from: Option<NaiveDate>,
    /// Latest release date, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_to: Option<NaiveDate>,
    /// ISRCs added to the selection (after the filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_isrcs: Option<Vec<String>>,
    /// ISRCs removed from the selection, last (wins over `include_isrcs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_isrcs: Option<Vec<String>>,
}

/// The attribute lists of a selector, as named in field errors and warnings.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SelectorField {
    Labels,
    Artists,
    Genres,
}

impl SelectorField {
    pub const ALL: [SelectorField; 3] = [
        SelectorField::Labels,
        SelectorField::Artists,
        SelectorField::Genres,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SelectorField::Labels => "labels",
            SelectorField::Artists => "artists",
            SelectorField::Genres => "genres",
        }
    }

    /// The index postings this field looks up.
    pub fn attribute_kind(self) -> AttributeKind {
        match self {
            SelectorField::Labels => AttributeKind::Label,
            SelectorField::Artists => AttributeKind::Artist,
            SelectorField::Genres => AttributeKind::Genre,
        }
    }
}

impl fmt::Display for SelectorField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The matching key of a label, artist or genre: Unicode white space trimmed,
/// Unicode lowercase mapping, then the two full case foldings that lowercase
/// alone misses (`ß`/`ẞ` → `ss`, final `ς` → `σ`). No accent stripping and no
/// Unicode normalization: `é` precomposed and `e` + combining accent differ.
/// Index builders and selectors must both use this function.
pub fn fold_key(value: &str) -> String {
    let lower = value.trim().to_lowercase();
    if lower.contains(['ß', 'ς']) {
        lower.replace('ß', "ss").replace('ς', "σ")
    } else {
        lower
    }
}

/// One label/artist/genre value of a validated selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterValue {
    /// [`fold_key`] of the value: what is looked up.
    pub key: String,
    /// The value as the client sent it, trimmed: what is reported back.
    pub value: String,
}

/// A selector whose values are all well-formed. Only [`Selector::validate`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedSelector {
    labels: Vec<FilterValue>,
    artists: Vec<FilterValue>,
    genres: Vec<FilterValue>,
    released_from: Option<NaiveDate>,
    released_to: Option<NaiveDate>,
    include_isrcs: Vec<Isrc>,
    exclude_isrcs: Vec<Isrc>,
}

impl Selector {
    /// Checks every field, collecting all problems. Field names are
    /// `labels[2]`, `include_isrcs[3]`, `released_to`, …
    pub fn validate(self) -> Result<ValidatedSelector, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let labels = validate_values(SelectorField::Labels, self.labels, &mut errors);
        let artists = validate_values(SelectorField::Artists, self.artists, &mut errors);
        let genres = validate_values(SelectorField::Genres, self.genres, &mut errors);

        for (field, date) in [
            ("released_from", self.released_from),
            ("released_to", self.released_to),
        ] {
            if let Some(d) = date {
                // Years outside 1..=9999 have no 4-digit posting key.
                if !(1..=9999).contains(&d.year()) {
                    errors.push(field, "must be between 0001-01-01 and 9999-12-31");
                }
            }
        }
        if let (Some(from), Some(to)) = (self.released_from, self.released_to) {
            if from > to {
                errors.push("released_to", "must be on or after released_from");
            }
        }

        let include_isrcs = validate_isrcs("include_isrcs", self.include_isrcs, &mut errors);
        let exclude_isrcs = validate_isrcs("exclude_isrcs", self.exclude_isrcs, &mut errors);

        errors.into_result()?;
        Ok(ValidatedSelector {
            labels,
            artists,
            genres,
            released_from: self.released_from,
            released_to: self.released_to,
            include_isrcs,
            exclude_isrcs,
        })
    }
}

fn validate_values(
    field: SelectorField,
    values: Option<Vec<String>>,
    errors: &mut ValidationErrors,
) -> Vec<FilterValue> {
    let values = values.unwrap_or_default();
    if values.len() > MAX_ATTRIBUTE_VALUES {
        errors.push(
            field.as_str(),
            format!(
                "at most {MAX_ATTRIBUTE_VALUES} values (got {})",
                values.len()
            ),
        );
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(values.len());
    for (i, raw) in values.iter().enumerate() {
        let value = raw.trim();
        if value.is_empty() {
            errors.push(format!("{field}[{i}]"), "must not be blank");
        } else if value.chars().count() > MAX_VALUE_CHARS {
            errors.push(
                format!("{field}[{i}]"),
                format!("at most {MAX_VALUE_CHARS} characters"),
            );
        } else {
            let key = fold_key(value);
            if seen.insert(key.clone()) {
                out.push(FilterValue {
                    key,
                    value: value.to_string(),
                });
            }
        }
    }
    out
}

fn validate_isrcs(
    field: &str,
    values: Option<Vec<String>>,
    errors: &mut ValidationErrors,
) -> Vec<Isrc> {
    let values = values.unwrap_or_default();
    if values.len() > MAX_ISRCS {
        errors.push(
            field,
            format!("at most {MAX_ISRCS} ISRCs (got {})", values.len()),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(values.len());
    let mut invalid = 0usize;
    for (i, raw) in values.iter().enumerate() {
        match Isrc::parse(raw) {
            Ok(isrc) => out.push(isrc),
            Err(e) => {
                invalid += 1;
                if invalid <= MAX_ISRC_ERRORS_LISTED {
                    errors.push(format!("{field}[{i}]"), e.to_string());
                }
            }
        }
    }
    if invalid > MAX_ISRC_ERRORS_LISTED {
        errors.push(
            field,
            format!(
                "{} more invalid ISRCs not listed",
                invalid - MAX_ISRC_ERRORS_LISTED
            ),
        );
    }
    out
}

impl ValidatedSelector {
    pub fn labels(&self) -> &[FilterValue] {
        &self.labels
    }

    pub fn artists(&self) -> &[FilterValue] {
        &self.artists
    }

    pub fn genres(&self) -> &[FilterValue] {
        &self.genres
    }

    pub fn values(&self, field: SelectorField) -> &[FilterValue] {
        match field {
            SelectorField::Labels => &self.labels,
            SelectorField::Artists => &self.artists,
            SelectorField::Genres => &self.genres,
        }
    }

    pub fn released_from(&self) -> Option<NaiveDate> {
        self.released_from
    }

    pub fn released_to(&self) -> Option<NaiveDate> {
        self.released_to
    }

    pub fn include_isrcs(&self) -> &[Isrc] {
        &self.include_isrcs
    }

    pub fn exclude_isrcs(&self) -> &[Isrc] {
        &self.exclude_isrcs
    }

    fn has_date_filter(&self) -> bool {
        self.released_from.is_some() || self.released_to.is_some()
    }

    /// Whether any of labels, artists, genres or the date range restricts the base set.
    pub fn has_attribute_filter(&self) -> bool {
        !self.labels.is_empty()
            || !self.artists.is_empty()
            || !self.genres.is_empty()
            || self.has_date_filter()
    }

    /// Whether the base set is the whole catalog (rule 4 of the module doc).
    pub fn starts_from_whole_catalog(&self) -> bool {
        !self.has_attribute_filter() && self.include_isrcs.is_empty()
    }

    /// The normalized selector (values trimmed, duplicates dropped, ISRCs in
    /// canonical form, empty lists absent): what to store with a slice.
    pub fn to_selector(&self) -> Selector {
        let values = |v: &[FilterValue]| {
            (!v.is_empty()).then(|| v.iter().map(|f| f.value.clone()).collect())
        };
        let isrcs = |v: &[Isrc]| {
            (!v.is_empty()).then(|| v.iter().map(|i| i.as_str().to_string()).collect())
        };
        Selector {
            labels: values(&self.labels),
            artists: values(&self.artists),
            genres: values(&self.genres),
            released_from: self.released_from,
            released_to: self.released_to,
            include_isrcs: isrcs(&self.include_isrcs),
            exclude_isrcs: isrcs(&self.exclude_isrcs),
        }
    }

    /// Every postings row [`evaluate`] may read, as inclusive key ranges per
    /// kind (an exact key has `from_key == to_key`). Loading exactly these
    /// rows into a [`MemoryIndex`] gives the same result as the full index.
    /// ISRCs are not postings: resolve `include_isrcs` and `exclude_isrcs`
    /// against the track table and add them with [`MemoryIndexBuilder::add_isrc`].
    pub fn needed_postings(&self) -> Vec<PostingRange> {
        let mut out = Vec::new();
        if self.starts_from_whole_catalog() {
            out.push(PostingRange::exact(AttributeKind::All, ""));
        }
        for field in SelectorField::ALL {
            for v in self.values(field) {
                out.push(PostingRange::exact(field.attribute_kind(), &v.key));
            }
        }
        if self.has_date_filter() {
            out.push(PostingRange {
                kind: AttributeKind::ReleaseYear,
                from_key: self
                    .released_from
                    .map_or_else(|| "0000".to_string(), |d| year_key(d.year())),
                to_key: self
                    .released_to
                    .map_or_else(|| "9999".to_string(), |d| year_key(d.year())),
            });
            if let Some(from) = self.released_from {
                out.push(PostingRange {
                    kind: AttributeKind::ReleaseDate,
                    from_key: date_key(from),
                    to_key: format!("{}-12-31", year_key(from.year())),
                });
            }
            if let Some(to) = self.released_to {
                out.push(PostingRange {
                    kind: AttributeKind::ReleaseDate,
                    from_key: format!("{}-01-01", year_key(to.year())),
                    to_key: date_key(to),
                });
            }
        }
        out
    }
}

/// A label/artist/genre value the catalog does not have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct UnknownValue {
    pub field: SelectorField,
    /// The value as sent (trimmed).
    pub value: String,
}

/// The tracks a selector selects, and what it named that the catalog lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectorResult {
    pub tracks: TrackSet,
    pub unknown_values: Vec<UnknownValue>,
    /// `include_isrcs` not in the catalog (the likely mistakes), deduplicated.
    pub unknown_isrcs: Vec<Isrc>,
    /// `exclude_isrcs` not in the catalog (harmless, reported for completeness).
    pub unknown_exclude_isrcs: Vec<Isrc>,
}

/// The kinds of postings an attribute index keeps, one [`TrackSet`] per key.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// Every track of the catalog; key `""`.
    All,
    /// Key: [`fold_key`] of the label.
    Label,
    /// Key: [`fold_key`] of one artist (a track is in each of its artists' postings).
    Artist,
    /// Key: [`fold_key`] of the genre.
    Genre,
    /// Key: the release year as 4 digits, `"2019"`.
    ReleaseYear,
    /// Key: the release date, ISO `"2019-03-15"`.
    ReleaseDate,
}

impl AttributeKind {
    pub const ALL: [AttributeKind; 6] = [
        AttributeKind::All,
        AttributeKind::Label,
        AttributeKind::Artist,
        AttributeKind::Genre,
        AttributeKind::ReleaseYear,
        AttributeKind::ReleaseDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeKind::All => "all",
            AttributeKind::Label => "label",
            AttributeKind::Artist => "artist",
            AttributeKind::Genre => "genre",
            AttributeKind::ReleaseYear => "release_year",
            AttributeKind::ReleaseDate => "release_date",
        }
    }
}

impl fmt::Display for AttributeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("unknown attribute kind `{0}`")]
    UnknownKind(String),
    #[error("invalid {kind} posting key `{key}`")]
    InvalidKey { kind: AttributeKind, key: String },
}

impl FromStr for AttributeKind {
    type Err = PostingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttributeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| PostingError::UnknownKind(s.to_string()))
    }
}

/// An inclusive range of posting keys of one kind. Year and date keys are
/// fixed-width, so byte-wise string order is chronological order and a
/// database can fetch a range with `key BETWEEN from_key AND to_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRange {
    pub kind: AttributeKind,
    pub from_key: String,
    pub to_key: String,
}

impl PostingRange {
    pub fn exact(kind: AttributeKind, key: &str) -> Self {
        Self {
            kind,
            from_key: key.to_string(),
            to_key: key.to_string(),
        }
    }

    pub fn matches(&self, kind: AttributeKind, key: &str) -> bool {
        self.kind == kind && self.from_key.as_str() <= key && key <= self.to_key.as_str()
    }
}

/// Posting key of a release year (`2019`).
pub fn year_key(year: i32) -> String {
    format!("{year:04}")
}

/// Posting key of a release date (`2019-03-15`).
pub fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

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
    /// Tracks released in `year`.
    fn release_year(&self, year: i32) -> Option<Cow<'_, TrackSet>>;
    /// The first and last release years present, so open-ended ranges are bounded.
    fn release_year_span(&self) -> Option<(i32, i32)>;
    /// Tracks released on a date in `from..=to`. [`evaluate`] only asks for
    /// ranges inside one calendar year (at most 366 date postings).
    fn released_between(&self, from: NaiveDate, to: NaiveDate) -> TrackSet;
    /// The ids of the given ISRCs in this catalog, and the ISRCs it lacks.
    fn ids_for_isrcs(&self, isrcs: &[Isrc]) -> (TrackSet, Vec<Isrc>);
}

fn attribute<'a>(
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

fn first_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

fn last_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 12, 31)
}

/// Tracks released in `from..=to` (either end open): whole years from the
/// year postings, the partial boundary years from the date postings.
fn released_in(
    index: &impl AttributeIndex,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> TrackSet {
    let mut out = TrackSet::new();
    let Some((min_year, max_year)) = index.release_year_span() else {
        return out;
    };
    let (Some(span_start), Some(span_end)) = (first_day(min_year), last_day(max_year)) else {
        return out;
    };
    let from = from.map_or(span_start, |d| d.max(span_start));
    let to = to.map_or(span_end, |d| d.min(span_end));
    if from > to {
        return out;
    }
    for year in from.year()..=to.year() {
        let (Some(jan1), Some(dec31)) = (first_day(year), last_day(year)) else {
            continue;
        };
        let start = from.max(jan1);
        let end = to.min(dec31);
        if start == jan1 && end == dec31 {
            if let Some(set) = index.release_year(year) {
                out.union_with(&set);
            }
        } else {
            out.union_with(&index.released_between(start, end));
        }
    }
    out
}

fn dedup_isrcs(mut isrcs: Vec<Isrc>) -> Vec<Isrc> {
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
        let mut matched = TrackSet::new();
        for v in values {
            match attribute(index, field, &v.key) {
                Some(set) => matched.union_with(&set),
                None => unknown_values.push(UnknownValue {
                    field,
                    value: v.value.clone(),
                }),
            }
        }
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
    all: TrackSet,
    labels: BTreeMap<String, TrackSet>,
    artists: BTreeMap<String, TrackSet>,
    genres: BTreeMap<String, TrackSet>,
    /// Keyed by [`year_key`].
    years: BTreeMap<String, TrackSet>,
    /// Keyed by [`date_key`]; ISO order is date order.
    dates: BTreeMap<String, TrackSet>,
    isrcs: HashMap<Isrc, u32>,
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

    fn map(&self, kind: AttributeKind) -> Option<&BTreeMap<String, TrackSet>> {
        match kind {
            AttributeKind::All => None,
            AttributeKind::Label => Some(&self.labels),
            AttributeKind::Artist => Some(&self.artists),
            AttributeKind::Genre => Some(&self.genres),
            AttributeKind::ReleaseYear => Some(&self.years),
            AttributeKind::ReleaseDate => Some(&self.dates),
        }
    }

    /// One posting, as stored.
    pub fn posting(&self, kind: AttributeKind, key: &str) -> Option<&TrackSet> {
        match self.map(kind) {
            None => (key.is_empty()).then_some(&self.all),
            Some(m) => m.get(key),
        }
    }

    /// Every posting, one per (kind, key): the rows a database persists, with
    /// `tracks.to_bytes()` as the value. Order: by kind, then key.
    pub fn postings(&self) -> impl Iterator<Item = (AttributeKind, &str, &TrackSet)> + '_ {
        let all = std::iter::once((AttributeKind::All, "", &self.all));
        let keyed = AttributeKind::ALL.into_iter().flat_map(move |kind| {
            self.map(kind)
                .into_iter()
                .flat_map(move |m| m.iter().map(move |(k, v)| (kind, k.as_str(), v)))
        });
        all.chain(keyed)
    }

    /// Consumes the index into its postings (as [`MemoryIndex::postings`], owned), so
    /// a bulk writer need not copy every bitmap.
    pub fn into_postings(self) -> impl Iterator<Item = (AttributeKind, String, TrackSet)> {
        let all = std::iter::once((AttributeKind::All, String::new(), self.all));
        let keyed = [
            (AttributeKind::Label, self.labels),
            (AttributeKind::Artist, self.artists),
            (AttributeKind::Genre, self.genres),
            (AttributeKind::ReleaseYear, self.years),
            (AttributeKind::ReleaseDate, self.dates),
        ]
        .into_iter()
        .flat_map(|(kind, map)| map.into_iter().map(move |(k, v)| (kind, k, v)));
        all.chain(keyed)
    }

    /// How many tracks the index knows.
    pub fn track_count(&self) -> u64 {
        self.all.len()
    }
}

impl AttributeIndex for MemoryIndex {
    fn all(&self) -> Cow<'_, TrackSet> {
        Cow::Borrowed(&self.all)
    }

    fn label(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.labels.get(key).map(Cow::Borrowed)
    }

    fn artist(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.artists.get(key).map(Cow::Borrowed)
    }

    fn genre(&self, key: &str) -> Option<Cow<'_, TrackSet>> {
        self.genres.get(key).map(Cow::Borrowed)
    }

    fn release_year(&self, year: i32) -> Option<Cow<'_, TrackSet>> {
        self.years.get(&year_key(year)).map(Cow::Borrowed)
    }

    fn release_year_span(&self) -> Option<(i32, i32)> {
        let first = self.years.keys().next()?.parse().ok()?;
        let last = self.years.keys().next_back()?.parse().ok()?;
        Some((first, last))
    }

    fn released_between(&self, from: NaiveDate, to: NaiveDate) -> TrackSet {
        let mut out = TrackSet::new();
        if from > to {
            return out;
        }
        for set in self
            .dates
            .range(date_key(from)..=date_key(to))
            .map(|(_, s)| s)
        {
            out.union_with(set);
        }
        out
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

fn add_id(map: &mut BTreeMap<String, TrackSet>, key: String, id: u32) {
    map.entry(key).or_default().insert(id);
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
        ix.all.insert(id);
        add_id(&mut ix.labels, fold_key(track.label), id);
        for artist in track.artists {
            let key = fold_key(artist);
            if !key.is_empty() {
                add_id(&mut ix.artists, key, id);
            }
        }
        add_id(&mut ix.genres, fold_key(track.genre), id);
        add_id(&mut ix.years, year_key(track.release_date.year()), id);
        add_id(&mut ix.dates, date_key(track.release_date), id);
    }

    /// Adds a persisted posting (united with what is there). Year and date
    /// keys must be in [`year_key`] / [`date_key`] form, the `all` key empty.
    pub fn add_posting(
        &mut self,
        kind: AttributeKind,
        key: &str,
        tracks: &TrackSet,
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
                ix.all.union_with(tracks);
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
            AttributeKind::ReleaseDate => {
                let ok = key.len() == 10 && NaiveDate::parse_from_str(key, "%Y-%m-%d").is_ok();
                if !ok {
                    return Err(invalid());
                }
                &mut ix.dates
            }
        };
        map.entry(key.to_string()).or_default().union_with(tracks);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn isrc(n: u32) -> Isrc {
        Isrc::parse(&format!("QZABC24{n:05}")).expect("test isrc")
    }

    #[derive(Debug, Clone)]
    struct Row {
        id: u32,
        isrc: Isrc,
        label: String,
        artists: Vec<String>,
        genre: String,
        released: NaiveDate,
    }

    fn row(id: u32, label: &str, artists: &[&str], genre: &str, released: &str) -> Row {
        Row {
            id,
            isrc: isrc(id),
            label: label.into(),
            artists: artists.iter().map(|a| a.to_string()).collect(),
            genre: genre.into(),
            released: date(released),
        }
    }

    fn index_of(rows: &[Row]) -> MemoryIndex {
        MemoryIndex::from_tracks(rows.iter().map(|r| IndexedTrack {
            id: r.id,
            isrc: &r.isrc,
            label: &r.label,
            artists: &r.artists,
            genre: &r.genre,
            release_date: r.released,
        }))
    }

    /// A small catalog covering every rule.
    fn catalog() -> Vec<Row> {
        vec![
            row(0, "Blue Note", &["Miles Davis"], "Jazz", "1959-08-17"),
            row(1, "Blue Note", &["John Coltrane"], "Jazz", "1960-01-01"),
            row(
                2,
                "Columbia",
                &["Miles Davis", "Gil Evans"],
                "Jazz",
                "1960-12-31",
            ),
            row(3, "Columbia", &["Bob Dylan"], "Folk", "1961-03-19"),
            row(
                4,
                "Straße Records",
                &["Kraftwerk"],
                "Electronic",
                "1974-11-01",
            ),
            row(5, "Motown", &["Marvin Gaye"], "Soul", "1971-05-21"),
            row(6, "Motown", &["Stevie Wonder"], "Soul", "1972-12-31"),
            row(7, "Blue Note", &["Norah Jones"], "Jazz", "2002-02-26"),
        ]
    }

    fn ids(set: &TrackSet) -> Vec<u32> {
        set.iter().collect()
    }

    fn list(values: &[&str]) -> Option<Vec<String>> {
        Some(values.iter().map(|v| v.to_string()).collect())
    }

    fn eval(selector: Selector) -> SelectorResult {
        let v = selector.validate().expect("valid selector");
        evaluate(&v, &index_of(&catalog()))
    }

    #[test]
    fn empty_selector_is_the_whole_catalog() {
        let r = eval(Selector::default());
        assert_eq!(ids(&r.tracks), (0..8).collect::<Vec<_>>());
        assert!(r.unknown_values.is_empty());
        let from_json: Selector = serde_json::from_str("{}").expect("json");
        assert_eq!(from_json, Selector::default());
    }

    #[test]
    fn empty_lists_are_no_filter() {
        let r = eval(Selector {
            labels: Some(vec![]),
            exclude_isrcs: Some(vec![]),
            ..Selector::default()
        });
        assert_eq!(r.tracks.len(), 8);
    }

    #[test]
    fn values_within_an_attribute_are_ored() {
        let r = eval(Selector {
            labels: list(&["Motown", "Columbia"]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![2, 3, 5, 6]);
    }

    #[test]
    fn attributes_are_anded() {
        let r = eval(Selector {
            labels: list(&["Blue Note", "Columbia"]),
            genres: list(&["Jazz"]),
            artists: list(&["Miles Davis"]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0, 2]);
    }

    #[test]
    fn any_of_several_artists_matches() {
        let r = eval(Selector {
            artists: list(&["gil evans"]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![2]);
    }

    #[test]
    fn matching_trims_and_case_folds() {
        let r = eval(Selector {
            labels: list(&["  BLUE NOTE\u{3000}", "strasse records"]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0, 1, 4, 7]);
        assert!(r.unknown_values.is_empty());
        assert_eq!(fold_key("ΣΟΦΟΣ"), fold_key("σοφος"));
        // Exact, not prefix: "Blue" is not "Blue Note".
        let r = eval(Selector {
            labels: list(&["Blue"]),
            ..Selector::default()
        });
        assert!(r.tracks.is_empty());
    }

    #[test]
    fn unknown_values_match_nothing_and_are_reported() {
        let r = eval(Selector {
            labels: list(&["Motown", "Nonesuch"]),
            genres: list(&["Polka"]),
            ..Selector::default()
        });
        assert!(r.tracks.is_empty());
        assert_eq!(
            r.unknown_values,
            vec![
                UnknownValue {
                    field: SelectorField::Labels,
                    value: "Nonesuch".into()
                },
                UnknownValue {
                    field: SelectorField::Genres,
                    value: "Polka".into()
                },
            ]
        );
        let r = eval(Selector {
            labels: list(&["Motown", "Nonesuch"]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![5, 6]);
    }

    #[test]
    fn date_boundaries_are_inclusive() {
        let r = eval(Selector {
            released_from: Some(date("1960-01-01")),
            released_to: Some(date("1960-12-31")),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![1, 2]);
        let r = eval(Selector {
            released_from: Some(date("1959-08-17")),
            released_to: Some(date("1959-08-17")),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0]);
        let r = eval(Selector {
            released_from: Some(date("1959-08-18")),
            released_to: Some(date("1972-12-30")),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![1, 2, 3, 5]);
    }

    #[test]
    fn open_ended_date_ranges() {
        let r = eval(Selector {
            released_from: Some(date("1972-12-31")),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![4, 6, 7]);
        let r = eval(Selector {
            released_to: Some(date("1960-01-01")),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0, 1]);
        let r = eval(Selector {
            released_from: Some(date("2100-01-01")),
            ..Selector::default()
        });
        assert!(r.tracks.is_empty());
    }

    #[test]
    fn includes_are_added_to_the_filters() {
        let r = eval(Selector {
            labels: list(&["Motown"]),
            include_isrcs: Some(vec![isrc(0).to_string(), "qz-abc-24-00007".into()]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0, 5, 6, 7]);
    }

    #[test]
    fn an_isrc_list_alone_selects_exactly_those_tracks() {
        let r = eval(Selector {
            include_isrcs: Some(vec![isrc(3).to_string(), isrc(4).to_string()]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![3, 4]);
    }

    #[test]
    fn exclude_wins_over_include() {
        let r = eval(Selector {
            labels: list(&["Motown"]),
            include_isrcs: Some(vec![isrc(0).to_string()]),
            exclude_isrcs: Some(vec![isrc(0).to_string(), isrc(5).to_string()]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![6]);
    }

    #[test]
    fn excludes_alone_cut_the_whole_catalog() {
        let r = eval(Selector {
            exclude_isrcs: Some(vec![isrc(1).to_string(), isrc(99).to_string()]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![0, 2, 3, 4, 5, 6, 7]);
        assert_eq!(r.unknown_exclude_isrcs, vec![isrc(99)]);
        assert!(r.unknown_isrcs.is_empty());
    }

    #[test]
    fn unknown_include_isrcs_are_reported_once() {
        let r = eval(Selector {
            include_isrcs: Some(vec![
                isrc(98).to_string(),
                isrc(2).to_string(),
                isrc(98).hyphenated(),
            ]),
            ..Selector::default()
        });
        assert_eq!(ids(&r.tracks), vec![2]);
        assert_eq!(r.unknown_isrcs, vec![isrc(98)]);
    }

    #[test]
    fn validation_names_each_bad_field() {
        let err = Selector {
            labels: list(&["ok", "  "]),
            artists: Some(vec!["x".repeat(201)]),
            released_from: Some(date("2020-01-02")),
            released_to: Some(date("2020-01-01")),
            include_isrcs: list(&["CNA012400001", "CNA012400001", "bad", "CNA0124000X1"]),
            exclude_isrcs: list(&["1"]),
            ..Selector::default()
        }
        .validate()
        .expect_err("invalid");
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "labels[1]",
                "artists[0]",
                "released_to",
                "include_isrcs[2]",
                "include_isrcs[3]",
                "exclude_isrcs[0]"
            ]
        );
        assert!(err.0[4].message.contains("designation code"));
    }

    #[test]
    fn list_sizes_are_bounded() {
        let many: Vec<String> = (0..=MAX_ATTRIBUTE_VALUES).map(|i| i.to_string()).collect();
        let err = Selector {
            genres: Some(many),
            ..Selector::default()
        }
        .validate()
        .expect_err("too many");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "genres");
        let exactly: Vec<String> = (0..MAX_ATTRIBUTE_VALUES).map(|i| i.to_string()).collect();
        assert!(Selector {
            genres: Some(exactly),
            ..Selector::default()
        }
        .validate()
        .is_ok());
        let err = Selector {
            exclude_isrcs: Some(vec![String::new(); MAX_ISRCS + 1]),
            ..Selector::default()
        }
        .validate()
        .expect_err("too many");
        assert_eq!(err.0[0].field, "exclude_isrcs");
    }

    #[test]
    fn isrc_errors_are_summarized_past_the_listing_limit() {
        let err = Selector {
            include_isrcs: Some(vec!["nope".to_string(); 250]),
            ..Selector::default()
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(err.0.len(), MAX_ISRC_ERRORS_LISTED + 1);
        let last = err.0.last().expect("summary");
        assert_eq!(last.field, "include_isrcs");
        assert!(last.message.starts_with("150 more"));
    }

    #[test]
    fn duplicate_values_count_once_and_normalize() {
        let v = Selector {
            labels: list(&["Motown", " MOTOWN ", "Columbia"]),
            include_isrcs: list(&["qz-abc-24-00001"]),
            ..Selector::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(v.labels().len(), 2);
        let normalized = v.to_selector();
        assert_eq!(normalized.labels, list(&["Motown", "Columbia"]));
        assert_eq!(normalized.include_isrcs, list(&["QZABC2400001"]));
        assert_eq!(normalized.artists, None);
    }

    #[test]
    fn json_shape_and_unknown_fields() {
        let s: Selector = serde_json::from_str(
            r#"{"labels":["Motown"],"released_from":"1970-01-01","exclude_isrcs":["QZABC2400005"]}"#,
        )
        .expect("json");
        assert_eq!(s.released_from, Some(date("1970-01-01")));
        assert_eq!(
            serde_json::to_value(&s).expect("json"),
            serde_json::json!({"labels":["Motown"],"released_from":"1970-01-01","exclude_isrcs":["QZABC2400005"]})
        );
        assert!(serde_json::from_str::<Selector>(r#"{"lables":["Motown"]}"#).is_err());
    }

    #[test]
    fn postings_round_trip_through_bytes() {
        let full = index_of(&catalog());
        let mut b = MemoryIndex::builder();
        for (kind, key, set) in full.postings() {
            let bytes = set.to_bytes();
            let kind: AttributeKind = kind.as_str().parse().expect("kind");
            b.add_posting(kind, key, &TrackSet::from_bytes(&bytes).expect("bytes"))
                .expect("posting");
        }
        for r in catalog() {
            b.add_isrc(r.isrc, r.id);
        }
        assert_eq!(b.build(), full);
        assert!(full
            .postings()
            .any(|(k, key, _)| k == AttributeKind::ReleaseYear && key == "1960"));
        assert!(full
            .postings()
            .any(|(k, key, _)| k == AttributeKind::Label && key == "strasse records"));
    }

    #[test]
    fn owned_postings_are_the_borrowed_ones() {
        let full = index_of(&catalog());
        let borrowed: Vec<(AttributeKind, String, TrackSet)> = full
            .postings()
            .map(|(k, key, set)| (k, key.to_string(), set.clone()))
            .collect();
        let owned: Vec<(AttributeKind, String, TrackSet)> = full.into_postings().collect();
        assert_eq!(owned, borrowed);
    }

    #[test]
    fn bad_posting_keys_are_refused() {
        let mut b = MemoryIndex::builder();
        let set = TrackSet::from_range(0..3);
        assert!(b
            .add_posting(AttributeKind::ReleaseYear, "60", &set)
            .is_err());
        assert!(b
            .add_posting(AttributeKind::ReleaseDate, "1960-13-01", &set)
            .is_err());
        assert!(b.add_posting(AttributeKind::All, "x", &set).is_err());
        assert!("labels".parse::<AttributeKind>().is_err());
    }

    #[test]
    fn needed_postings_name_boundary_dates_and_keys() {
        let v = Selector {
            labels: list(&["Motown"]),
            released_from: Some(date("1960-06-01")),
            released_to: Some(date("1972-02-29")),
            ..Selector::default()
        }
        .validate()
        .expect("valid");
        let needed = v.needed_postings();
        assert!(needed.contains(&PostingRange::exact(AttributeKind::Label, "motown")));
        assert!(needed.contains(&PostingRange {
            kind: AttributeKind::ReleaseDate,
            from_key: "1960-06-01".into(),
            to_key: "1960-12-31".into()
        }));
        assert!(needed.contains(&PostingRange {
            kind: AttributeKind::ReleaseDate,
            from_key: "1972-01-01".into(),
            to_key: "1972-02-29".into()
        }));
        assert!(!needed.iter().any(|p| p.kind == AttributeKind::All));
        let whole = Selector::default().validate().expect("valid");
        assert_eq!(
            whole.needed_postings(),
            vec![PostingRange::exact(AttributeKind::All, "")]
        );
    }

    // ---- property test: evaluate == naive filter over the rows ----

    const LABELS: [&str; 4] = ["Alpha", "beta", "GAMMA", "Straße"];
    const ARTISTS: [&str; 4] = ["Ann", "bob", "Cy", "Dee"];
    const GENRES: [&str; 3] = ["Pop", "rock", "Jazz"];

    fn arb_catalog() -> impl Strategy<Value = Vec<Row>> {
        let arb_row = (
            0usize..LABELS.len(),
            proptest::collection::btree_set(0usize..ARTISTS.len(), 1..3),
            0usize..GENRES.len(),
            0i64..800,
        );
        proptest::collection::vec(arb_row, 0..60).prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (l, a, g, day))| Row {
                    id: i as u32 * 3, // gaps, as after deletions
                    isrc: isrc(i as u32),
                    label: LABELS[l].to_string(),
                    artists: a.into_iter().map(|a| ARTISTS[a].to_string()).collect(),
                    genre: GENRES[g].to_string(),
                    released: date("2019-06-01") + chrono::Duration::days(day),
                })
                .collect()
        })
    }

    /// Values drawn from the catalog's pools, in other cases and padding, plus
    /// one unknown value.
    fn arb_values(pool: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
        let value = (0..=pool.len(), any::<bool>()).prop_map(move |(i, upper)| {
            let v = pool.get(i).copied().unwrap_or("Unknown");
            if upper {
                format!(" {} ", v.to_uppercase())
            } else {
                v.to_string()
            }
        });
        proptest::option::of(proptest::collection::vec(value, 0..3))
    }

    fn arb_date() -> impl Strategy<Value = Option<NaiveDate>> {
        proptest::option::of(
            (0i64..1_000).prop_map(|d| date("2019-01-01") + chrono::Duration::days(d)),
        )
    }

    fn arb_isrcs() -> impl Strategy<Value = Option<Vec<String>>> {
        proptest::option::of(proptest::collection::vec(
            (0u32..70).prop_map(|n| isrc(n).to_string()),
            0..5,
        ))
    }

    fn arb_selector() -> impl Strategy<Value = Selector> {
        (
            arb_values(&LABELS),
            arb_values(&ARTISTS),
            arb_values(&GENRES),
            arb_date(),
            arb_date(),
            arb_isrcs(),
            arb_isrcs(),
        )
            .prop_map(|(labels, artists, genres, from, to, inc, exc)| {
                // Keep the range valid; validation of reversed ranges is unit-tested.
                let (from, to) = match (from, to) {
                    (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
                    other => other,
                };
                Selector {
                    labels,
                    artists,
                    genres,
                    released_from: from,
                    released_to: to,
                    include_isrcs: inc,
                    exclude_isrcs: exc,
                }
            })
    }

    fn naive(rows: &[Row], s: &Selector) -> (BTreeSet<u32>, BTreeSet<UnknownValue>) {
        let folded = |v: &Option<Vec<String>>| -> Vec<String> {
            v.iter().flatten().map(|x| fold_key(x)).collect()
        };
        let (labels, artists, genres) = (folded(&s.labels), folded(&s.artists), folded(&s.genres));
        let has_filter = !labels.is_empty()
            || !artists.is_empty()
            || !genres.is_empty()
            || s.released_from.is_some()
            || s.released_to.is_some();
        let includes: BTreeSet<Isrc> = s
            .include_isrcs
            .iter()
            .flatten()
            .map(|i| Isrc::parse(i).expect("isrc"))
            .collect();
        let excludes: BTreeSet<Isrc> = s
            .exclude_isrcs
            .iter()
            .flatten()
            .map(|i| Isrc::parse(i).expect("isrc"))
            .collect();
        let mut out = BTreeSet::new();
        for r in rows {
            let matches = (labels.is_empty() || labels.contains(&fold_key(&r.label)))
                && (artists.is_empty() || r.artists.iter().any(|a| artists.contains(&fold_key(a))))
                && (genres.is_empty() || genres.contains(&fold_key(&r.genre)))
                && s.released_from.is_none_or(|f| r.released >= f)
                && s.released_to.is_none_or(|t| r.released <= t);
            let base = if has_filter {
                matches
            } else {
                includes.is_empty()
            };
            if (base || includes.contains(&r.isrc)) && !excludes.contains(&r.isrc) {
                out.insert(r.id);
            }
        }
        let mut unknown = BTreeSet::new();
        for (field, values, known) in [
            (
                SelectorField::Labels,
                &s.labels,
                rows.iter()
                    .map(|r| fold_key(&r.label))
                    .collect::<BTreeSet<_>>(),
            ),
            (
                SelectorField::Artists,
                &s.artists,
                rows.iter()
                    .flat_map(|r| r.artists.iter().map(|a| fold_key(a)))
                    .collect(),
            ),
            (
                SelectorField::Genres,
                &s.genres,
                rows.iter().map(|r| fold_key(&r.genre)).collect(),
            ),
        ] {
            for v in values.iter().flatten() {
                if !known.contains(&fold_key(v)) {
                    unknown.insert(UnknownValue {
                        field,
                        value: v.trim().to_string(),
                    });
                }
            }
        }
        (out, unknown)
    }

    proptest! {
        #[test]
        fn evaluate_equals_a_naive_filter(rows in arb_catalog(), selector in arb_selector()) {
            let index = index_of(&rows);
            let validated = selector.clone().validate().expect("valid selector");
            let result = evaluate(&validated, &index);
            let (expected, expected_unknown) = naive(&rows, &selector);
            prop_assert_eq!(result.tracks.iter().collect::<BTreeSet<_>>(), expected);
            // Unknown values are reported once per distinct folded value; compare as sets.
            let got: BTreeSet<UnknownValue> = result.unknown_values.iter().cloned().collect();
            prop_assert_eq!(
                got.iter().map(|u| (u.field, fold_key(&u.value))).collect::<BTreeSet<_>>(),
                expected_unknown.iter().map(|u| (u.field, fold_key(&u.value))).collect::<BTreeSet<_>>()
            );
            // Unknown include ISRCs are exactly those not in the catalog.
            let known: BTreeSet<&Isrc> = rows.iter().map(|r| &r.isrc).collect();
            for u in &result.unknown_isrcs {
                prop_assert!(!known.contains(u));
            }
        }

        #[test]
        fn needed_postings_suffice(rows in arb_catalog(), selector in arb_selector()) {
            let full = index_of(&rows);
            let validated = selector.validate().expect("valid selector");
            let needed = validated.needed_postings();
            let mut b = MemoryIndex::builder();
            for (kind, key, set) in full.postings() {
                if needed.iter().any(|p| p.matches(kind, key)) {
                    b.add_posting(kind, key, set).expect("posting");
                }
            }
            let wanted: BTreeSet<&Isrc> = validated
                .include_isrcs()
                .iter()
                .chain(validated.exclude_isrcs())
                .collect();
            for r in &rows {
                if wanted.contains(&r.isrc) {
                    b.add_isrc(r.isrc.clone(), r.id);
                }
            }
            let partial = b.build();
            prop_assert_eq!(evaluate(&validated, &partial), evaluate(&validated, &full));
        }
    }
}
