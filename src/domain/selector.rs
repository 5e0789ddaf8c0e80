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
//! (one [`TrackSet`] per label, artist, genre, release year, release month and
//! release date); it never looks at track rows.
//!
//! A release-date range is cut by [`release_date_cover`] into the fewest
//! postings: whole years from the year postings, whole months of the two
//! boundary years from the month postings, and only the days of the two
//! boundary months from the date postings — at most 1 year range, 2 month
//! ranges and 4 day ranges of at most 30 days each, whatever the range. (Days
//! alone made a range crossing years read ~570 date postings.) Catalogs indexed
//! before month postings existed have none; their index says so
//! ([`DatePostings::YearsDays`]) and their ranges are cut into years and days,
//! which gives the same tracks, only slower.
//!
//! A database layer can either implement [`AttributeIndex`] itself, or fetch
//! exactly the postings rows named by [`ValidatedSelector::needed_postings`]
//! (plus the ids of the selector's ISRCs), load them into a [`MemoryIndex`]
//! with [`MemoryIndexBuilder`], and evaluate against that.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

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

    /// Whether `released_from` or `released_to` is given.
    pub fn has_date_filter(&self) -> bool {
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
    /// kind (an exact key has `from_key == to_key`), for an index holding the
    /// given date postings. Loading exactly these rows into a [`MemoryIndex`]
    /// built with the same [`DatePostings`] gives the same result as the full
    /// index. ISRCs are not postings: resolve `include_isrcs` and
    /// `exclude_isrcs` against the track table and add them with
    /// [`MemoryIndexBuilder::add_isrc`].
    pub fn needed_postings(&self, dates: DatePostings) -> Vec<PostingRange> {
        let mut out = Vec::new();
        if self.starts_from_whole_catalog() {
            out.push(PostingRange::exact(AttributeKind::All, ""));
        }
        for field in SelectorField::ALL {
            for v in self.values(field) {
                out.push(PostingRange::exact(field.attribute_kind(), &v.key));
            }
        }
        out.extend(release_date_cover(
            self.released_from,
            self.released_to,
            dates,
        ));
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
    /// Key: the release year and month, `"2019-03"`. Absent from catalogs
    /// indexed before month postings existed (see [`DatePostings`]).
    ReleaseMonth,
    /// Key: the release date, ISO `"2019-03-15"`.
    ReleaseDate,
}

impl AttributeKind {
    pub const ALL: [AttributeKind; 7] = [
        AttributeKind::All,
        AttributeKind::Label,
        AttributeKind::Artist,
        AttributeKind::Genre,
        AttributeKind::ReleaseYear,
        AttributeKind::ReleaseMonth,
        AttributeKind::ReleaseDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeKind::All => "all",
            AttributeKind::Label => "label",
            AttributeKind::Artist => "artist",
            AttributeKind::Genre => "genre",
            AttributeKind::ReleaseYear => "release_year",
            AttributeKind::ReleaseMonth => "release_month",
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

/// Posting key of a release month (`2019-03`).
pub fn month_key(year: i32, month: u32) -> String {
    format!("{year:04}-{month:02}")
}

/// Posting key of a release date (`2019-03-15`).
pub fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Which release-date postings an index holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DatePostings {
    /// Year, month and date postings: every index built since month postings
    /// exist, and every catalog imported into since (the import backfills a
    /// catalog's months from its date postings).
    #[default]
    YearsMonthsDays,
    /// Year and date postings only: a catalog indexed before month postings
    /// existed and not imported into since. Answers are the same; a range
    /// reads up to 365 date postings per boundary year instead of ≤ 41.
    YearsDays,
}

fn first_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

fn last_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 12, 31)
}

fn is_last_day_of_month(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    // Day 28 exists in every month; walk to the month's last day from there.
    let mut d = date.with_day(28).unwrap_or(date);
    while !is_last_day_of_month(d) {
        match d.succ_opt() {
            Some(next) => d = next,
            None => break,
        }
    }
    d
}

fn date_range(from: NaiveDate, to: NaiveDate) -> PostingRange {
    PostingRange {
        kind: AttributeKind::ReleaseDate,
        from_key: date_key(from),
        to_key: date_key(to),
    }
}

/// Cuts `from..=to`, two dates of one year, into whole months and the days of
/// the (at most two) partial months.
fn cover_within_year(from: NaiveDate, to: NaiveDate, dates: DatePostings) -> Vec<PostingRange> {
    if dates == DatePostings::YearsDays {
        return vec![date_range(from, to)];
    }
    let mut out = Vec::new();
    let starts_month = from.day() == 1;
    let ends_month = is_last_day_of_month(to);
    if from.month() == to.month() {
        out.push(if starts_month && ends_month {
            PostingRange::exact(
                AttributeKind::ReleaseMonth,
                &month_key(from.year(), from.month()),
            )
        } else {
            date_range(from, to)
        });
        return out;
    }
    let first_month = if starts_month {
        from.month()
    } else {
        out.push(date_range(from, last_day_of_month(from)));
        from.month() + 1
    };
    let last_month = if ends_month {
        to.month()
    } else {
        out.push(date_range(to.with_day(1).unwrap_or(to), to));
        to.month() - 1
    };
    if first_month <= last_month {
        out.push(PostingRange {
            kind: AttributeKind::ReleaseMonth,
            from_key: month_key(from.year(), first_month),
            to_key: month_key(from.year(), last_month),
        });
    }
    out
}

/// The postings whose union is exactly the tracks released in `from..=to`
/// (either end open; both open is no date filter and gives nothing): one
/// range of whole years, then for each partial boundary year its whole months
/// and the days of its partial months. The ranges are disjoint, so no date is
/// counted twice, and their number does not grow with the length of the range:
/// at most 1 year range, 2 month ranges and 4 date ranges of ≤ 30 days
/// ([`DatePostings::YearsMonthsDays`]), or 1 year range and 2 date ranges of
/// ≤ 365 days ([`DatePostings::YearsDays`]).
pub fn release_date_cover(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    dates: DatePostings,
) -> Vec<PostingRange> {
    let mut out = Vec::new();
    if from.is_none() && to.is_none() {
        return out;
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return out;
        }
    }
    // Whole years: open ends reach the widest 4-digit keys.
    let first_whole = from.map_or(0, |d| {
        if d.ordinal() == 1 {
            d.year()
        } else {
            d.year() + 1
        }
    });
    let last_whole = to.map_or(9999, |d| {
        if d.month() == 12 && d.day() == 31 {
            d.year()
        } else {
            d.year() - 1
        }
    });
    if first_whole <= last_whole {
        out.push(PostingRange {
            kind: AttributeKind::ReleaseYear,
            from_key: year_key(first_whole),
            to_key: year_key(last_whole),
        });
    }
    // The partial year `from` starts in (it may also be where `to` ends).
    let head = from.filter(|d| d.ordinal() != 1).and_then(|f| {
        let dec31 = last_day(f.year())?;
        Some((f, to.map_or(dec31, |t| t.min(dec31))))
    });
    // The partial year `to` ends in, unless the head already covers it.
    let tail = to
        .filter(|d| !(d.month() == 12 && d.day() == 31))
        .and_then(|t| {
            let jan1 = first_day(t.year())?;
            let start = from.map_or(jan1, |f| f.max(jan1));
            let covered = head.is_some_and(|(_, end)| end >= start);
            (!covered).then_some((start, t))
        });
    for (a, b) in head.into_iter().chain(tail) {
        out.extend(cover_within_year(a, b, dates));
    }
    out
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
    /// Which release-date postings the index holds; [`evaluate`] only asks
    /// [`AttributeIndex::release_postings`] for those kinds.
    fn date_postings(&self) -> DatePostings;
    /// Every posting of `range.kind` (release year, month or date) whose key is
    /// in the range. Keys with no tracks have no posting.
    fn release_postings(&self, range: &PostingRange) -> Vec<Cow<'_, TrackSet>>;
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

/// Tracks released in `from..=to` (either end open).
fn released_in(
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

/// Month postings for a catalog that has only date postings: each month is the
/// union of its days. `dates` are (date key, tracks) pairs, any order.
pub fn month_postings_from_dates(
    dates: impl IntoIterator<Item = (String, TrackSet)>,
) -> Result<BTreeMap<String, TrackSet>, PostingError> {
    let mut days_by_month: BTreeMap<String, Vec<TrackSet>> = BTreeMap::new();
    for (key, set) in dates {
        let date = parse_date_key(&key).ok_or_else(|| PostingError::InvalidKey {
            kind: AttributeKind::ReleaseDate,
            key: key.clone(),
        })?;
        days_by_month
            .entry(month_key(date.year(), date.month()))
            .or_default()
            .push(set);
    }
    Ok(days_by_month
        .into_iter()
        .map(|(month, days)| (month, TrackSet::union_all(days.iter())))
        .collect())
}

fn parse_date_key(key: &str) -> Option<NaiveDate> {
    if key.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()
}

fn is_month_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(key[5..].parse::<u32>(), Ok(1..=12))
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
    all: Arc<TrackSet>,
    labels: BTreeMap<String, Arc<TrackSet>>,
    artists: BTreeMap<String, Arc<TrackSet>>,
    genres: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`year_key`].
    years: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`month_key`]; empty when `date_postings` is `YearsDays`.
    months: BTreeMap<String, Arc<TrackSet>>,
    /// Keyed by [`date_key`]; ISO order is date order.
    dates: BTreeMap<String, Arc<TrackSet>>,
    /// Whether `months` is meaningful (see [`DatePostings`]).
    date_postings: DatePostings,
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
fn unshare(set: Arc<TrackSet>) -> TrackSet {
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

fn add_id(map: &mut BTreeMap<String, Arc<TrackSet>>, key: String, id: u32) {
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
            b.add_posting(kind, key, TrackSet::from_bytes(&bytes).expect("bytes"))
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
            .any(|(k, key, _)| k == AttributeKind::ReleaseMonth && key == "1960-12"));
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
        for (kind, key) in [
            (AttributeKind::ReleaseYear, "60"),
            (AttributeKind::ReleaseMonth, "1960-13"),
            (AttributeKind::ReleaseMonth, "1960-1"),
            (AttributeKind::ReleaseMonth, "1960-00"),
            (AttributeKind::ReleaseMonth, "196O-01"),
            (AttributeKind::ReleaseMonth, "1960-01-01"),
            (AttributeKind::ReleaseDate, "1960-13-01"),
            (AttributeKind::ReleaseDate, "1960-1-01"),
            (AttributeKind::All, "x"),
        ] {
            assert!(
                b.add_posting(kind, key, set.clone()).is_err(),
                "{kind} {key}"
            );
        }
        assert!(b
            .add_posting(AttributeKind::ReleaseMonth, "1960-12", set.clone())
            .is_ok());
        assert!("labels".parse::<AttributeKind>().is_err());
        assert_eq!(
            "release_month".parse::<AttributeKind>(),
            Ok(AttributeKind::ReleaseMonth)
        );
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
        let needed = v.needed_postings(DatePostings::YearsMonthsDays);
        assert!(needed.contains(&PostingRange::exact(AttributeKind::Label, "motown")));
        // Whole months at both ends: no day postings at all.
        assert_eq!(
            needed[1..],
            [
                range(AttributeKind::ReleaseYear, "1961", "1971"),
                range(AttributeKind::ReleaseMonth, "1960-06", "1960-12"),
                range(AttributeKind::ReleaseMonth, "1972-01", "1972-02"),
            ]
        );
        assert!(!needed.iter().any(|p| p.kind == AttributeKind::All));
        // Without month postings, the boundary years are read day by day.
        assert_eq!(
            v.needed_postings(DatePostings::YearsDays)[1..],
            [
                range(AttributeKind::ReleaseYear, "1961", "1971"),
                range(AttributeKind::ReleaseDate, "1960-06-01", "1960-12-31"),
                range(AttributeKind::ReleaseDate, "1972-01-01", "1972-02-29"),
            ]
        );
        let whole = Selector::default().validate().expect("valid");
        assert_eq!(
            whole.needed_postings(DatePostings::YearsMonthsDays),
            vec![PostingRange::exact(AttributeKind::All, "")]
        );
    }

    fn range(kind: AttributeKind, from: &str, to: &str) -> PostingRange {
        PostingRange {
            kind,
            from_key: from.into(),
            to_key: to.into(),
        }
    }

    #[test]
    fn date_ranges_are_cut_into_years_months_and_days() {
        let cover = |from: Option<&str>, to: Option<&str>| {
            release_date_cover(from.map(date), to.map(date), DatePostings::YearsMonthsDays)
        };
        use AttributeKind::{ReleaseDate as D, ReleaseMonth as M, ReleaseYear as Y};
        // The benchmark's range: 8 years, both ends mid-month.
        assert_eq!(
            cover(Some("2015-03-15"), Some("2022-09-30")),
            [
                range(Y, "2016", "2021"),
                range(D, "2015-03-15", "2015-03-31"),
                range(M, "2015-04", "2015-12"),
                range(M, "2022-01", "2022-09"),
            ]
        );
        assert_eq!(
            cover(Some("2015-03-15"), Some("2022-09-29")),
            [
                range(Y, "2016", "2021"),
                range(D, "2015-03-15", "2015-03-31"),
                range(M, "2015-04", "2015-12"),
                range(D, "2022-09-01", "2022-09-29"),
                range(M, "2022-01", "2022-08"),
            ]
        );
        // Open ends reach every year.
        assert_eq!(cover(Some("2020-01-01"), None), [range(Y, "2020", "9999")]);
        assert_eq!(
            cover(None, Some("1999-12-30")),
            [
                range(Y, "0000", "1998"),
                range(D, "1999-12-01", "1999-12-30"),
                range(M, "1999-01", "1999-11"),
            ]
        );
        // Inside one year, one month, one day.
        assert_eq!(
            cover(Some("2020-02-10"), Some("2020-04-30")),
            [
                range(D, "2020-02-10", "2020-02-29"),
                range(M, "2020-03", "2020-04"),
            ]
        );
        assert_eq!(
            cover(Some("2020-02-01"), Some("2020-02-29")),
            [range(M, "2020-02", "2020-02")]
        );
        assert_eq!(
            cover(Some("2021-02-03"), Some("2021-02-03")),
            [range(D, "2021-02-03", "2021-02-03")]
        );
        // Reversed or absent: nothing.
        assert!(cover(Some("2021-02-03"), Some("2021-02-02")).is_empty());
        assert!(cover(None, None).is_empty());
        // The extreme dates validation allows.
        assert_eq!(
            cover(Some("9999-12-31"), None),
            [range(D, "9999-12-31", "9999-12-31")]
        );
        assert_eq!(
            cover(None, Some("0001-01-01")),
            [
                range(Y, "0000", "0000"),
                range(D, "0001-01-01", "0001-01-01")
            ]
        );
    }

    #[test]
    fn month_postings_are_the_union_of_their_days() {
        let full = index_of(&catalog());
        let dates: Vec<(String, TrackSet)> = full
            .postings()
            .filter(|(k, _, _)| *k == AttributeKind::ReleaseDate)
            .map(|(_, key, set)| (key.to_string(), set.clone()))
            .collect();
        let months = month_postings_from_dates(dates).expect("valid keys");
        let expected: BTreeMap<String, TrackSet> = full
            .postings()
            .filter(|(k, _, _)| *k == AttributeKind::ReleaseMonth)
            .map(|(_, key, set)| (key.to_string(), set.clone()))
            .collect();
        assert_eq!(months, expected);
        assert!(month_postings_from_dates([("1960-1-1".to_string(), TrackSet::new())]).is_err());
    }

    /// The index of a catalog imported before month postings existed: the same
    /// postings without the months, and saying so.
    fn without_months(full: &MemoryIndex) -> MemoryIndex {
        let mut b = MemoryIndex::builder();
        for (kind, key, set) in full.postings() {
            if kind != AttributeKind::ReleaseMonth {
                b.add_posting(kind, key, set.clone()).expect("posting");
            }
        }
        for (isrc, id) in &full.isrcs {
            b.add_isrc(isrc.clone(), *id);
        }
        b.date_postings(DatePostings::YearsDays);
        b.build()
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
            0i64..2_400,
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
                    released: date("2017-11-01") + chrono::Duration::days(day),
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
            (0i64..3_000).prop_map(|d| date("2017-01-01") + chrono::Duration::days(d)),
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
        fn evaluate_equals_a_naive_filter(
            rows in arb_catalog(),
            selector in arb_selector(),
            months in any::<bool>(),
        ) {
            // With month postings (catalogs indexed now), and without (older ones).
            let index = if months { index_of(&rows) } else { without_months(&index_of(&rows)) };
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
        fn needed_postings_suffice(
            rows in arb_catalog(),
            selector in arb_selector(),
            months in any::<bool>(),
        ) {
            let full = if months { index_of(&rows) } else { without_months(&index_of(&rows)) };
            let dates = full.date_postings();
            let validated = selector.validate().expect("valid selector");
            let needed = validated.needed_postings(dates);
            let mut b = MemoryIndex::builder();
            b.date_postings(dates);
            for (kind, key, set) in full.postings() {
                if needed.iter().any(|p| p.matches(kind, key)) {
                    b.add_posting(kind, key, set.clone()).expect("posting");
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

        /// Every date of a wide window is covered by exactly one of the cut's
        /// postings if it is in the range, and by none otherwise; and the cut
        /// stays within its bounds on the number and width of ranges.
        #[test]
        fn a_date_range_cover_is_exact_and_small(
            from in proptest::option::of(0i64..4_000),
            to in proptest::option::of(0i64..4_000),
            months in any::<bool>(),
        ) {
            let origin = date("2015-01-01");
            let from = from.map(|d| origin + chrono::Duration::days(d));
            let to = to.map(|d| origin + chrono::Duration::days(d));
            let dates = if months { DatePostings::YearsMonthsDays } else { DatePostings::YearsDays };
            let cover = release_date_cover(from, to, dates);
            let mut day = date("2014-01-01");
            while day <= date("2027-12-31") {
                let keys = [
                    (AttributeKind::ReleaseYear, year_key(day.year())),
                    (AttributeKind::ReleaseMonth, month_key(day.year(), day.month())),
                    (AttributeKind::ReleaseDate, date_key(day)),
                ];
                let hits = cover
                    .iter()
                    .filter(|r| keys.iter().any(|(k, key)| r.matches(*k, key)))
                    .count();
                let inside = (from.is_some() || to.is_some())
                    && from.is_none_or(|f| day >= f)
                    && to.is_none_or(|t| day <= t);
                prop_assert_eq!(hits, usize::from(inside), "{} in {:?}", day, cover);
                day = day.succ_opt().expect("date");
            }
            let count = |kind| cover.iter().filter(|r| r.kind == kind).count();
            prop_assert!(count(AttributeKind::ReleaseYear) <= 1);
            if months {
                prop_assert!(count(AttributeKind::ReleaseMonth) <= 2);
                prop_assert!(count(AttributeKind::ReleaseDate) <= 4);
                for r in cover.iter().filter(|r| r.kind == AttributeKind::ReleaseDate) {
                    let span = parse_date_key(&r.to_key).expect("key")
                        - parse_date_key(&r.from_key).expect("key");
                    prop_assert!(span.num_days() < 30, "{:?}", r);
                }
            } else {
                prop_assert_eq!(count(AttributeKind::ReleaseMonth), 0);
                prop_assert!(count(AttributeKind::ReleaseDate) <= 2);
            }
        }
    }
}
