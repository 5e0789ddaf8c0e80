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
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::isrc::Isrc;
use crate::domain::stored::stored_enum;
use crate::domain::trackset::TrackSet;
use crate::domain::ValidationErrors;

mod evaluate;
mod memory;
mod postings;
#[cfg(test)]
mod tests;

pub use evaluate::*;
pub use memory::*;
pub use postings::*;

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

stored_enum! {
    SelectorField { Labels = "labels", Artists = "artists", Genres = "genres" }
    unknown struct UnknownSelectorField = "unknown selector field `{0}`: expected labels, artists or genres"
}

impl SelectorField {
    /// The index postings this field looks up.
    pub fn attribute_kind(self) -> AttributeKind {
        match self {
            SelectorField::Labels => AttributeKind::Label,
            SelectorField::Artists => AttributeKind::Artist,
            SelectorField::Genres => AttributeKind::Genre,
        }
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
