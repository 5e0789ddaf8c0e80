//! The postings an attribute index keeps (one track set per label, artist,
//! genre, release year, month and date), their keys, and how a release-date
//! range is cut into the fewest of them.

use super::*;

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

stored_enum! {
    AttributeKind {
        All = "all",
        Label = "label",
        Artist = "artist",
        Genre = "genre",
        ReleaseYear = "release_year",
        ReleaseMonth = "release_month",
        ReleaseDate = "release_date",
    }
    unknown PostingError::UnknownKind as PostingError
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("unknown attribute kind `{0}`")]
    UnknownKind(String),
    #[error("invalid {kind} posting key `{key}`")]
    InvalidKey { kind: AttributeKind, key: String },
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

pub(super) fn first_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

pub(super) fn last_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 12, 31)
}

pub(super) fn is_last_day_of_month(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

pub(super) fn last_day_of_month(date: NaiveDate) -> NaiveDate {
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

pub(super) fn date_range(from: NaiveDate, to: NaiveDate) -> PostingRange {
    PostingRange {
        kind: AttributeKind::ReleaseDate,
        from_key: date_key(from),
        to_key: date_key(to),
    }
}

/// Cuts `from..=to`, two dates of one year, into whole months and the days of
/// the (at most two) partial months.
pub(super) fn cover_within_year(
    from: NaiveDate,
    to: NaiveDate,
    dates: DatePostings,
) -> Vec<PostingRange> {
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

pub(super) fn parse_date_key(key: &str) -> Option<NaiveDate> {
    if key.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()
}

pub(super) fn is_month_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(key[5..].parse::<u32>(), Ok(1..=12))
}
