//! One catalog row as imported, and its validation.
//!
//! [`TrackInput`] holds the fields as read from a CSV line or an NDJSON object
//! (strings, so nothing is lost before validation can name the field);
//! [`TrackInput::validate`] turns it into a [`Track`] or reports every bad
//! field at once, named `isrc`, `title`, `artists`, `artists[2]`, `label`,
//! `genre`, `release_date`, `duration_ms`, `iswc`.
//!
//! Rules:
//! - `isrc`: see [`Isrc::parse`] (hyphens and lowercase accepted).
//! - `title`: trimmed, 1 to 500 characters.
//! - `artists`: 1 to 50, each trimmed, non-empty and at most 200 characters.
//!   CSV gives one `;`-separated cell ([`split_artists`]); NDJSON gives an array
//!   or the same `;`-separated string. `A;;B` is an error (a blank artist).
//! - `label`, `genre`: trimmed, 1 to 200 characters.
//! - `release_date`: ISO `YYYY-MM-DD`, from 1877-01-01 (the phonograph) to
//!   five years after `today` (announced releases).
//! - `duration_ms`: a whole number from 1 to 86,400,000 (24 hours).
//! - `iswc`: optional; see [`Iswc::parse`].

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::isrc::Isrc;
use crate::domain::{is_storable_text, ValidationErrors, NUL_REFUSED};

pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_ARTISTS: usize = 50;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DURATION_MS: u32 = 86_400_000;
/// How far past `today` a release date may lie (announced releases).
pub const MAX_MONTHS_AHEAD: u32 = 60;

/// The earliest plausible recording date (Edison's phonograph, 1877).
pub fn earliest_release_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1877, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// One imported row, fields as read. Every field defaults to empty so a
/// missing column or key is reported as a field error, not a parse failure;
/// NDJSON numbers and `null` are accepted where strings are expected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct TrackInput {
    #[serde(default, deserialize_with = "lenient_string")]
    pub isrc: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub title: String,
    /// NDJSON: an array of names, or one `;`-separated string.
    #[serde(default, deserialize_with = "artists_list")]
    pub artists: Vec<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub label: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub genre: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub release_date: String,
    /// A JSON number or a string of digits.
    #[serde(default, deserialize_with = "lenient_string")]
    pub duration_ms: String,
    #[serde(default)]
    pub iswc: Option<String>,
}

/// A validated catalog track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Track {
    pub isrc: Isrc,
    pub title: String,
    pub artists: Vec<String>,
    pub label: String,
    pub genre: String,
    pub release_date: NaiveDate,
    pub duration_ms: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iswc: Option<Iswc>,
}

/// Splits a CSV `artists` cell on `;`. A blank cell is no artists; blank
/// pieces are kept so validation can point at them.
pub fn split_artists(cell: &str) -> Vec<String> {
    if cell.trim().is_empty() {
        Vec::new()
    } else {
        cell.split(';').map(str::to_string).collect()
    }
}

/// A trimmed, required, length-limited text field.
fn required_text(
    errors: &mut ValidationErrors,
    field: &str,
    raw: &str,
    max_chars: usize,
) -> String {
    let value = raw.trim();
    if value.is_empty() {
        errors.push(field, "is required");
    } else if !is_storable_text(value) {
        errors.push(field, NUL_REFUSED);
    } else if value.chars().count() > max_chars {
        errors.push(field, format!("must be at most {max_chars} characters"));
    }
    value.to_string()
}

impl TrackInput {
    /// Validates every field (see the module doc); `today` bounds the release date.
    pub fn validate(self, today: NaiveDate) -> Result<Track, ValidationErrors> {
        let mut errors = ValidationErrors::new();

        let isrc = match Isrc::parse(&self.isrc) {
            Ok(i) => Some(i),
            Err(e) => {
                errors.push("isrc", e.to_string());
                None
            }
        };
        let title = required_text(&mut errors, "title", &self.title, MAX_TITLE_CHARS);

        let mut artists = Vec::with_capacity(self.artists.len());
        if self.artists.is_empty() {
            errors.push("artists", "at least one artist is required");
        } else if self.artists.len() > MAX_ARTISTS {
            errors.push(
                "artists",
                format!("at most {MAX_ARTISTS} artists (got {})", self.artists.len()),
            );
        } else {
            for (i, raw) in self.artists.iter().enumerate() {
                let field = format!("artists[{i}]");
                let name = raw.trim();
                if name.is_empty() {
                    errors.push(field, "must not be blank");
                } else if !is_storable_text(name) {
                    errors.push(field, NUL_REFUSED);
                } else if name.chars().count() > MAX_NAME_CHARS {
                    errors.push(
                        field,
                        format!("must be at most {MAX_NAME_CHARS} characters"),
                    );
                } else {
                    artists.push(name.to_string());
                }
            }
        }

        let label = required_text(&mut errors, "label", &self.label, MAX_NAME_CHARS);
        let genre = required_text(&mut errors, "genre", &self.genre, MAX_NAME_CHARS);
        let release_date = parse_release_date(&mut errors, &self.release_date, today);
        let duration_ms = parse_duration(&mut errors, &self.duration_ms);

        let iswc = match self.iswc.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match Iswc::parse(raw) {
                Ok(iswc) => Some(iswc),
                Err(e) => {
                    errors.push("iswc", e.to_string());
                    None
                }
            },
        };

        errors.into_result()?;
        match (isrc, release_date, duration_ms) {
            (Some(isrc), Some(release_date), Some(duration_ms)) => Ok(Track {
                isrc,
                title,
                artists,
                label,
                genre,
                release_date,
                duration_ms,
                iswc,
            }),
            // Each None above pushed an error, so this is not reached.
            _ => Err(ValidationErrors::single("track", "invalid")),
        }
    }
}

fn parse_release_date(
    errors: &mut ValidationErrors,
    raw: &str,
    today: NaiveDate,
) -> Option<NaiveDate> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.push("release_date", "is required");
        return None;
    }
    // chrono's %Y also takes signs and short years; insist on YYYY-MM-DD.
    let shaped = raw.len() == 10 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[7] == b'-';
    let Some(date) = shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
    else {
        errors.push("release_date", "must be a date as YYYY-MM-DD");
        return None;
    };
    let latest = today
        .checked_add_months(Months::new(MAX_MONTHS_AHEAD))
        .unwrap_or(NaiveDate::MAX);
    if date < earliest_release_date() || date > latest {
        errors.push(
            "release_date",
            format!("must be between 1877-01-01 and {latest}"),
        );
        return None;
    }
    Some(date)
}

fn parse_duration(errors: &mut ValidationErrors, raw: &str) -> Option<u32> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.push("duration_ms", "is required");
        return None;
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        errors.push("duration_ms", "must be a whole number of milliseconds");
        return None;
    }
    match raw.parse::<u64>() {
        Ok(ms) if (1..=u64::from(MAX_DURATION_MS)).contains(&ms) => u32::try_from(ms).ok(),
        _ => {
            errors.push(
                "duration_ms",
                format!("must be between 1 and {MAX_DURATION_MS} (24 hours)"),
            );
            None
        }
    }
}

/// International Standard Musical Work Code (ISO 15707): the composition a
/// recording performs. `T` + 9-digit work number + check digit.
///
/// Check digit: with d₁…d₉ the work number's digits left to right,
/// S = 1 + Σ i·dᵢ (i = 1..9) and C = (10 − S mod 10) mod 10.
/// E.g. T-034.524.680-1: S = 1 + 0+6+12+20+10+24+42+64+0 = 179, C = 1.
///
/// Stored compact (`T0345246801`, [`Iswc::as_str`]); shown and serialized in
/// the standard presentation `T-034.524.680-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iswc(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IswcError {
    #[error("ISWC `{0}` must look like T-123.456.789-C or T1234567890")]
    Format(String),
    #[error("ISWC `{input}` has check digit {found}, expected {expected}")]
    CheckDigit {
        input: String,
        found: u8,
        expected: u8,
    },
}

impl Iswc {
    /// Parses `T-123.456.789-C` or `T1234567890` (a lowercase `t` is accepted;
    /// each separator is optional at its place, as ISO 15707 allows, and no
    /// other separator is).
    pub fn parse(input: &str) -> Result<Iswc, IswcError> {
        let trimmed = input.trim();
        let format_err = || IswcError::Format(trimmed.to_string());
        let mut rest = trimmed
            .strip_prefix(['T', 't'])
            .ok_or_else(format_err)?
            .as_bytes();
        let mut digits = [0u8; 10];
        // Expected separator before each digit position (0-based), if any.
        let separator_before = |i: usize| match i {
            0 | 9 => Some(b'-'),
            3 | 6 => Some(b'.'),
            _ => None,
        };
        for (i, slot) in digits.iter_mut().enumerate() {
            if let (Some(sep), Some(&c)) = (separator_before(i), rest.first()) {
                if c == sep {
                    rest = &rest[1..];
                }
            }
            match rest.first() {
                Some(c) if c.is_ascii_digit() => *slot = c - b'0',
                _ => return Err(format_err()),
            }
            rest = &rest[1..];
        }
        if !rest.is_empty() {
            return Err(format_err());
        }
        let expected = Self::check_digit(&digits[..9]);
        if digits[9] != expected {
            return Err(IswcError::CheckDigit {
                input: trimmed.to_string(),
                found: digits[9],
                expected,
            });
        }
        let mut compact = String::with_capacity(11);
        compact.push('T');
        compact.extend(digits.iter().map(|d| char::from(b'0' + d)));
        Ok(Iswc(compact))
    }

    /// The check digit of a 9-digit work number (see the type doc).
    pub fn check_digit(work: &[u8]) -> u8 {
        let sum: u32 = 1 + work
            .iter()
            .enumerate()
            .map(|(i, &d)| (i as u32 + 1) * u32::from(d))
            .sum::<u32>();
        ((10 - sum % 10) % 10) as u8
    }

    /// The compact form `T0345246801`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The presentation form `T-034.524.680-1`.
    pub fn formatted(&self) -> String {
        let s = &self.0;
        format!("T-{}.{}.{}-{}", &s[1..4], &s[4..7], &s[7..10], &s[10..11])
    }
}

impl fmt::Display for Iswc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

impl Serialize for Iswc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.formatted())
    }
}

impl<'de> Deserialize<'de> for Iswc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Iswc::parse(&raw).map_err(de::Error::custom)
    }
}

impl utoipa::PartialSchema for Iswc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "ISWC (ISO 15707), check digit verified. Accepted as `T-034.524.680-1` or \
                 `T0345246801`; returned as `T-034.524.680-1`.",
            ))
            .examples(["T-034.524.680-1"])
            .into()
    }
}

impl utoipa::ToSchema for Iswc {}

/// A string field that also takes a JSON number (`"duration_ms": 215000`) or
/// `null` (as empty).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            // Kept as written so validation can refuse `1.5`.
            Ok(v.to_string())
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
    }
    d.deserialize_any(V)
}

/// `artists` as an array of strings, a `;`-separated string, or `null`.
fn artists_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Artists {
        List(Vec<String>),
        Joined(String),
        Missing(()),
    }
    Ok(match Artists::deserialize(d)? {
        Artists::List(list) => list,
        Artists::Joined(cell) => split_artists(&cell),
        Artists::Missing(()) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 2, 15).expect("date")
    }

    fn good() -> TrackInput {
        TrackInput {
            isrc: "cn-a01-24-00001".into(),
            title: "  Moonlight  ".into(),
            artists: split_artists("Li Wei; Zhang San"),
            label: "Blue Sky".into(),
            genre: "Pop".into(),
            release_date: "2024-03-01".into(),
            duration_ms: "215000".into(),
            iswc: Some("T-034.524.680-1".into()),
        }
    }

    fn errors_of(input: TrackInput) -> Vec<(String, String)> {
        input
            .validate(today())
            .expect_err("should be invalid")
            .0
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn fields_of(input: TrackInput) -> Vec<String> {
        errors_of(input).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_good_row_validates_and_normalizes() {
        let t = good().validate(today()).expect("valid");
        assert_eq!(t.isrc.as_str(), "CNA012400001");
        assert_eq!(t.title, "Moonlight");
        assert_eq!(t.artists, vec!["Li Wei", "Zhang San"]);
        assert_eq!(
            t.release_date,
            NaiveDate::from_ymd_opt(2024, 3, 1).expect("d")
        );
        assert_eq!(t.duration_ms, 215_000);
        assert_eq!(t.iswc.expect("iswc").as_str(), "T0345246801");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let fields = fields_of(TrackInput::default());
        assert_eq!(
            fields,
            vec![
                "isrc",
                "title",
                "artists",
                "label",
                "genre",
                "release_date",
                "duration_ms"
            ]
        );
    }

    #[test]
    fn isrc_errors_name_the_part() {
        let errs = errors_of(TrackInput {
            isrc: "CNA01AB00001".into(),
            ..good()
        });
        assert_eq!(errs[0].0, "isrc");
        assert!(errs[0].1.contains("year"));
    }

    #[test]
    fn nul_characters_are_refused_in_every_text_field() {
        let errs = errors_of(TrackInput {
            title: "a\0b".into(),
            artists: vec!["Li\0Wei".into()],
            label: "\0".into(),
            genre: "Pop\0".into(),
            ..good()
        });
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, vec!["title", "artists[0]", "label", "genre"]);
        assert!(errs.iter().all(|(_, m)| m == NUL_REFUSED));
    }

    #[test]
    fn title_is_trimmed_and_bounded() {
        assert_eq!(
            fields_of(TrackInput {
                title: "   ".into(),
                ..good()
            }),
            vec!["title"]
        );
        let max = "é".repeat(MAX_TITLE_CHARS);
        let t = TrackInput {
            title: format!(" {max} "),
            ..good()
        }
        .validate(today())
        .expect("500 characters is fine");
        assert_eq!(t.title.chars().count(), 500);
        assert_eq!(
            fields_of(TrackInput {
                title: "x".repeat(MAX_TITLE_CHARS + 1),
                ..good()
            }),
            vec!["title"]
        );
    }

    #[test]
    fn artists_rules() {
        assert_eq!(split_artists(" "), Vec::<String>::new());
        assert_eq!(
            fields_of(TrackInput {
                artists: split_artists(""),
                ..good()
            }),
            vec!["artists"]
        );
        assert_eq!(
            fields_of(TrackInput {
                artists: split_artists("A;; B"),
                ..good()
            }),
            vec!["artists[1]"]
        );
        assert_eq!(
            fields_of(TrackInput {
                artists: vec!["ok".into(), "x".repeat(MAX_NAME_CHARS + 1)],
                ..good()
            }),
            vec!["artists[1]"]
        );
        let fifty: Vec<String> = (0..MAX_ARTISTS).map(|i| format!("A{i}")).collect();
        assert!(TrackInput {
            artists: fifty.clone(),
            ..good()
        }
        .validate(today())
        .is_ok());
        let mut too_many = fifty;
        too_many.push("one more".into());
        assert_eq!(
            fields_of(TrackInput {
                artists: too_many,
                ..good()
            }),
            vec!["artists"]
        );
    }

    #[test]
    fn label_and_genre_are_required_and_bounded() {
        assert_eq!(
            fields_of(TrackInput {
                label: " ".into(),
                genre: "g".repeat(MAX_NAME_CHARS + 1),
                ..good()
            }),
            vec!["label", "genre"]
        );
        assert!(TrackInput {
            label: "l".repeat(MAX_NAME_CHARS),
            ..good()
        }
        .validate(today())
        .is_ok());
    }

    #[test]
    fn release_date_format_and_bounds() {
        let with_date = |d: &str| TrackInput {
            release_date: d.into(),
            ..good()
        };
        for ok in ["1877-01-01", "2031-02-15", " 2024-02-29 "] {
            assert!(with_date(ok).validate(today()).is_ok(), "{ok}");
        }
        for bad in [
            "1876-12-31",
            "2031-02-16",
            "2024-02-30",
            "2024/03/01",
            "24-03-01",
            "2024-3-1",
            "+2024-03-01",
            "01.03.2024",
        ] {
            assert_eq!(fields_of(with_date(bad)), vec!["release_date"], "{bad}");
        }
        // Five years after a 29 February is the 28th.
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).expect("d");
        assert!(with_date("2033-02-28").validate(leap).is_ok());
        assert!(with_date("2033-03-01").validate(leap).is_err());
    }

    #[test]
    fn duration_rules() {
        let with = |d: &str| TrackInput {
            duration_ms: d.into(),
            ..good()
        };
        for ok in ["1", "86400000", " 215000 "] {
            assert!(with(ok).validate(today()).is_ok(), "{ok}");
        }
        for bad in [
            "0",
            "86400001",
            "-5",
            "1.5",
            "1e3",
            "abc",
            "99999999999999999999999",
        ] {
            assert_eq!(fields_of(with(bad)), vec!["duration_ms"], "{bad}");
        }
    }

    #[test]
    fn iswc_check_digit_matches_the_published_example() {
        // Worked example of ISO 15707's check digit: S = 179, C = 1.
        assert_eq!(Iswc::check_digit(&[0, 3, 4, 5, 2, 4, 6, 8, 0]), 1);
        // The first ISWC ever assigned (ABBA, "Dancing Queen").
        assert_eq!(
            Iswc::parse("T-000.000.001-0").expect("valid").as_str(),
            "T0000000010"
        );
        // T-345.246.800-1, often quoted as a format example, fails the check:
        // its check digit is 3.
        assert_eq!(
            Iswc::parse("T-345.246.800-1"),
            Err(IswcError::CheckDigit {
                input: "T-345.246.800-1".into(),
                found: 1,
                expected: 3
            })
        );
        assert!(Iswc::parse("T-345.246.800-3").is_ok());
    }

    #[test]
    fn iswc_formats() {
        for ok in [
            "T-034.524.680-1",
            "T0345246801",
            "t0345246801",
            "T-034524680-1",
            " T-034.524.680-1 ",
        ] {
            let iswc = Iswc::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(iswc.as_str(), "T0345246801");
            assert_eq!(iswc.to_string(), "T-034.524.680-1");
        }
        for bad in [
            "",
            "T",
            "034.524.680-1",
            "X-034.524.680-1",
            "T-034-524-680-1",
            "T 034 524 680 1",
            "T03452468011",
            "T034524680",
            "T-034.524.680-",
            "T-034.524.68O-1",
        ] {
            assert!(
                matches!(Iswc::parse(bad), Err(IswcError::Format(_))),
                "{bad}: {:?}",
                Iswc::parse(bad)
            );
        }
    }

    #[test]
    fn iswc_field_is_optional_and_checked() {
        for none in [None, Some(String::new()), Some("  ".into())] {
            let t = TrackInput {
                iswc: none,
                ..good()
            }
            .validate(today())
            .expect("valid");
            assert_eq!(t.iswc, None);
        }
        let errs = errors_of(TrackInput {
            iswc: Some("T-034.524.680-2".into()),
            ..good()
        });
        assert_eq!(errs[0].0, "iswc");
        assert!(errs[0].1.contains("expected 1"), "{}", errs[0].1);
    }

    #[test]
    fn ndjson_accepts_arrays_strings_numbers_and_nulls() {
        let row: TrackInput = serde_json::from_str(
            r#"{"isrc":"CNA012400001","title":"T","artists":["A; still one","B"],
                "label":"L","genre":"G","release_date":"2024-01-01","duration_ms":1000,
                "iswc":null,"extra":"ignored"}"#,
        )
        .expect("json");
        assert_eq!(row.artists, vec!["A; still one", "B"]);
        assert_eq!(row.duration_ms, "1000");
        assert!(row.validate(today()).is_ok());

        let row: TrackInput =
            serde_json::from_str(r#"{"artists":"A;B","duration_ms":"12","title":null}"#)
                .expect("json");
        assert_eq!(row.artists, vec!["A", "B"]);
        assert_eq!(row.duration_ms, "12");
        assert_eq!(row.title, "");

        let row: TrackInput = serde_json::from_str(r#"{"duration_ms":1.5}"#).expect("json");
        assert!(fields_of(row).contains(&"duration_ms".to_string()));
        let row: TrackInput = serde_json::from_str(r#"{"artists":null}"#).expect("json");
        assert!(row.artists.is_empty());
    }

    #[test]
    fn track_serializes_with_formatted_iswc() {
        let t = good().validate(today()).expect("valid");
        let json = serde_json::to_value(&t).expect("json");
        assert_eq!(json["iswc"], "T-034.524.680-1");
        assert_eq!(json["isrc"], "CNA012400001");
        assert_eq!(json["release_date"], "2024-03-01");
        let back: Track = serde_json::from_value(json).expect("back");
        assert_eq!(back, t);
    }
}
