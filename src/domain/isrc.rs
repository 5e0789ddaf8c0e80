//! International Standard Recording Code (ISO 3901): the identifier of one
//! recording, `CC XXX YY NNNNN`.
//!
//! Input is forgiving in the two ways catalogs really differ (hyphenated
//! display form, lowercase); storage is one canonical form, so two spellings
//! of the same ISRC are always the same value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A valid ISRC, stored as 12 uppercase characters without hyphens
/// (`CNA012400001`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Isrc(String);

/// Why a string is not an ISRC; the message names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsrcError {
    #[error("ISRC is empty")]
    Empty,
    #[error(
        "ISRC `{input}` has {found} characters (hyphens not counted); \
         expected 12: country code (2), registrant code (3), year (2), designation code (5)"
    )]
    WrongLength { input: String, found: usize },
    #[error(
        "ISRC `{0}` has a hyphen out of place; hyphens may only separate the parts, \
         as in CC-XXX-YY-NNNNN"
    )]
    MisplacedHyphen(String),
    #[error("ISRC country code `{0}` must be two letters A-Z")]
    CountryCode(String),
    #[error("ISRC registrant code `{0}` must be three letters A-Z or digits")]
    RegistrantCode(String),
    #[error("ISRC year of reference `{0}` must be two digits")]
    Year(String),
    #[error("ISRC designation code `{0}` must be five digits")]
    DesignationCode(String),
}

/// Offsets (in the 12-character form) where a part ends and a hyphen may stand.
const PART_BOUNDARIES: [usize; 3] = [2, 5, 7];

impl Isrc {
    /// Parses `CNA012400001`, `CN-A01-24-00001` or either in lowercase.
    ///
    /// Surrounding whitespace is ignored (spreadsheet exports pad cells);
    /// hyphens are accepted only between parts, each at most once. The
    /// country code is any two letters: the registration authority allocates
    /// prefixes that are not ISO 3166 codes (`QM`, `QZ`, `ZZ`, ...).
    pub fn parse(input: &str) -> Result<Isrc, IsrcError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IsrcError::Empty);
        }

        let mut chars: Vec<char> = Vec::with_capacity(12);
        let mut hyphens_at: Vec<usize> = Vec::new();
        for c in trimmed.chars() {
            if c == '-' {
                hyphens_at.push(chars.len());
            } else {
                chars.push(c.to_ascii_uppercase());
            }
        }

        if chars.len() != 12 {
            return Err(IsrcError::WrongLength {
                input: trimmed.to_string(),
                found: chars.len(),
            });
        }
        let hyphens_well_placed = hyphens_at.iter().all(|at| PART_BOUNDARIES.contains(at))
            && hyphens_at.windows(2).all(|w| w[0] != w[1]);
        if !hyphens_well_placed {
            return Err(IsrcError::MisplacedHyphen(trimmed.to_string()));
        }

        let part = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
        let all = |from: usize, to: usize, ok: fn(&char) -> bool| chars[from..to].iter().all(ok);

        if !all(0, 2, char::is_ascii_uppercase) {
            return Err(IsrcError::CountryCode(part(0, 2)));
        }
        if !all(2, 5, |c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return Err(IsrcError::RegistrantCode(part(2, 5)));
        }
        if !all(5, 7, char::is_ascii_digit) {
            return Err(IsrcError::Year(part(5, 7)));
        }
        if !all(7, 12, char::is_ascii_digit) {
            return Err(IsrcError::DesignationCode(part(7, 12)));
        }

        Ok(Isrc(chars.into_iter().collect()))
    }

    /// The canonical 12-character form, e.g. `CNA012400001`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter prefix (`CN`); not necessarily an ISO 3166 country.
    pub fn country_code(&self) -> &str {
        &self.0[0..2]
    }

    /// The three-character registrant (issuer) code (`A01`).
    pub fn registrant_code(&self) -> &str {
        &self.0[2..5]
    }

    /// The two-digit year of reference (`24`).
    pub fn year(&self) -> &str {
        &self.0[5..7]
    }

    /// The five-digit designation code (`00001`).
    pub fn designation_code(&self) -> &str {
        &self.0[7..12]
    }

    /// The display form `CN-A01-24-00001`, for people rather than storage.
    pub fn hyphenated(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.country_code(),
            self.registrant_code(),
            self.year(),
            self.designation_code()
        )
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The ISRC packed into an integer, bijectively: letters and digits of each
    /// part as digits of a mixed-radix number (26² · 36³ · 10² · 10⁵ ≈ 3.2·10¹⁴
    /// values, well inside i64). Storage uses it: 8 bytes per row and per index
    /// entry instead of 12, and integer comparisons.
    pub fn key(&self) -> i64 {
        let b = self.0.as_bytes();
        let letter = |c: u8| i64::from(c - b'A');
        let alnum = |c: u8| match c {
            b'0'..=b'9' => i64::from(c - b'0'),
            _ => 10 + i64::from(c - b'A'),
        };
        let digit = |c: u8| i64::from(c - b'0');
        let mut key = letter(b[0]) * 26 + letter(b[1]);
        for &c in &b[2..5] {
            key = key * 36 + alnum(c);
        }
        for &c in &b[5..12] {
            key = key * 10 + digit(c);
        }
        key
    }

    /// The inverse of [`Isrc::key`]; `None` for integers no ISRC maps to.
    pub fn from_key(key: i64) -> Option<Isrc> {
        const MAX: i64 = 26 * 26 * 36 * 36 * 36 * 10_000_000;
        if !(0..MAX).contains(&key) {
            return None;
        }
        let mut rest = key;
        let mut out = [0u8; 12];
        for slot in out[5..12].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        for slot in out[2..5].iter_mut().rev() {
            let v = (rest % 36) as u8;
            *slot = if v < 10 { b'0' + v } else { b'A' + v - 10 };
            rest /= 36;
        }
        out[1] = b'A' + (rest % 26) as u8;
        out[0] = b'A' + (rest / 26) as u8;
        Some(Isrc(out.iter().map(|&c| c as char).collect()))
    }
}

impl fmt::Display for Isrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Isrc {
    type Err = IsrcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Isrc::parse(s)
    }
}

impl TryFrom<&str> for Isrc {
    type Error = IsrcError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Isrc::parse(s)
    }
}

impl TryFrom<String> for Isrc {
    type Error = IsrcError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Isrc::parse(&s)
    }
}

impl AsRef<str> for Isrc {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Isrc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Isrc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Isrc::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Isrc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "ISRC (ISO 3901). Accepted with or without hyphens and in any case \
                 (`cn-a01-24-00001`); always returned as 12 uppercase characters without hyphens.",
            ))
            .pattern(Some("^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?[0-9]{2}-?[0-9]{5}$"))
            .examples(["CNA012400001"])
            .into()
    }
}

impl utoipa::ToSchema for Isrc {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Isrc {
        Isrc::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn keys_round_trip_and_preserve_distinctness() {
        for s in [
            "AAA000000000",
            "ZZZZZ9999999",
            "CNA012400001",
            "QMZ9Z2412345",
            "USRC17607839",
        ] {
            let isrc = ok(s);
            assert_eq!(Isrc::from_key(isrc.key()), Some(isrc.clone()), "{s}");
        }
        assert_eq!(ok("AA0000000000").key(), 0);
        assert!(Isrc::from_key(-1).is_none());
        assert!(Isrc::from_key(ok("ZZZZZ9999999").key() + 1).is_none());
        assert_ne!(ok("CNA012400001").key(), ok("CNA012400002").key());
    }

    proptest! {
        #[test]
        fn any_key_in_range_round_trips(key in 0i64..(26 * 26 * 36 * 36 * 36 * 10_000_000)) {
            let isrc = Isrc::from_key(key).unwrap();
            prop_assert_eq!(Isrc::parse(isrc.as_str()).unwrap().key(), key);
        }
    }

    #[test]
    fn plain_form_is_kept() {
        assert_eq!(ok("CNA012400001").as_str(), "CNA012400001");
        assert_eq!(ok("USRC17607839").as_str(), "USRC17607839");
    }

    #[test]
    fn hyphens_are_removed() {
        assert_eq!(ok("CN-A01-24-00001").as_str(), "CNA012400001");
    }

    #[test]
    fn each_hyphen_is_optional() {
        for s in [
            "CN-A012400001",
            "CNA01-2400001",
            "CNA0124-00001",
            "CN-A01-2400001",
            "CNA01-24-00001",
            "CN-A0124-00001",
        ] {
            assert_eq!(ok(s).as_str(), "CNA012400001", "{s}");
        }
    }

    #[test]
    fn lowercase_is_uppercased() {
        assert_eq!(ok("cna012400001").as_str(), "CNA012400001");
        assert_eq!(ok("cn-a01-24-00001").as_str(), "CNA012400001");
        assert_eq!(ok("Cn-A01-24-00001").as_str(), "CNA012400001");
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(ok("  CNA012400001\t").as_str(), "CNA012400001");
    }

    #[test]
    fn non_iso_3166_prefixes_are_accepted() {
        for s in [
            "QMAAA2400001",
            "QZ-ABC-24-00001",
            "ZZZZZ2400001",
            "XXABC9912345",
        ] {
            assert!(Isrc::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn registrant_code_may_mix_letters_and_digits() {
        for s in [
            "CNABC2400001",
            "CN1232400001",
            "CNA1B2400001",
            "cn9zz2400001",
        ] {
            assert!(Isrc::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn parts_are_exposed() {
        let isrc = ok("cn-a01-24-00001");
        assert_eq!(isrc.country_code(), "CN");
        assert_eq!(isrc.registrant_code(), "A01");
        assert_eq!(isrc.year(), "24");
        assert_eq!(isrc.designation_code(), "00001");
        assert_eq!(isrc.hyphenated(), "CN-A01-24-00001");
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(Isrc::parse(""), Err(IsrcError::Empty));
        assert_eq!(Isrc::parse("   "), Err(IsrcError::Empty));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for (s, found) in [
            ("C", 1),
            ("CNA01240000", 11),
            ("CNA0124000012", 13),
            ("CN-A01-24-0001", 11),
            ("CN-A01-24-000012", 13),
            ("-", 0),
            ("----", 0),
        ] {
            match Isrc::parse(s) {
                Err(IsrcError::WrongLength { found: f, .. }) => assert_eq!(f, found, "{s}"),
                other => panic!("{s}: expected WrongLength, got {other:?}"),
            }
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        match Isrc::parse("CNÄ012400001") {
            Err(IsrcError::RegistrantCode(part)) => assert_eq!(part, "Ä01"),
            other => panic!("expected RegistrantCode, got {other:?}"),
        }
    }

    #[test]
    fn misplaced_hyphens_are_refused() {
        for s in [
            "C-NA012400001",
            "CNA-012400001",
            "CNA012400-001",
            "-CNA012400001",
            "CNA012400001-",
            "CN--A01-24-00001",
            "CNA0-124-00001",
        ] {
            assert!(
                matches!(Isrc::parse(s), Err(IsrcError::MisplacedHyphen(_))),
                "{s}: {:?}",
                Isrc::parse(s)
            );
        }
    }

    #[test]
    fn bad_country_code_is_named() {
        assert_eq!(
            Isrc::parse("1NA012400001"),
            Err(IsrcError::CountryCode("1N".into()))
        );
        assert_eq!(
            Isrc::parse("C_A012400001"),
            Err(IsrcError::CountryCode("C_".into()))
        );
    }

    #[test]
    fn bad_registrant_code_is_named() {
        assert_eq!(
            Isrc::parse("CNA_12400001"),
            Err(IsrcError::RegistrantCode("A_1".into()))
        );
        assert_eq!(
            Isrc::parse("CN A12400001"),
            Err(IsrcError::RegistrantCode(" A1".into()))
        );
    }

    #[test]
    fn bad_year_is_named() {
        assert_eq!(
            Isrc::parse("CNA01AB00001"),
            Err(IsrcError::Year("AB".into()))
        );
    }

    #[test]
    fn bad_designation_code_is_named() {
        assert_eq!(
            Isrc::parse("CNA01240000X"),
            Err(IsrcError::DesignationCode("0000X".into()))
        );
        assert_eq!(
            Isrc::parse("CN-A01-24-ABCDE"),
            Err(IsrcError::DesignationCode("ABCDE".into()))
        );
    }

    #[test]
    fn error_messages_name_the_part() {
        let msg = |s: &str| Isrc::parse(s).unwrap_err().to_string();
        assert!(msg("1NA012400001").contains("country code"));
        assert!(msg("CNA_12400001").contains("registrant code"));
        assert!(msg("CNA01AB00001").contains("year"));
        assert!(msg("CNA01240000X").contains("designation code"));
        assert!(msg("CNA0124").contains("expected 12"));
        assert!(msg("C-NA012400001").contains("hyphen"));
    }

    #[test]
    fn display_and_from_str_round_trip() {
        let isrc: Isrc = "cn-a01-24-00001".parse().unwrap();
        assert_eq!(isrc.to_string(), "CNA012400001");
        assert_eq!(isrc.to_string().parse::<Isrc>().unwrap(), isrc);
        assert_eq!(Isrc::try_from("CNA012400001").unwrap(), isrc);
        assert_eq!(Isrc::try_from(String::from("CNA012400001")).unwrap(), isrc);
    }

    #[test]
    fn serde_is_a_canonical_string() {
        let isrc = ok("cn-a01-24-00001");
        assert_eq!(serde_json::to_string(&isrc).unwrap(), "\"CNA012400001\"");
        let back: Isrc = serde_json::from_str("\"cn-a01-24-00001\"").unwrap();
        assert_eq!(back, isrc);
    }

    #[test]
    fn deserialize_validates() {
        let err = serde_json::from_str::<Isrc>("\"CNA01AB00001\"").unwrap_err();
        assert!(err.to_string().contains("year"), "{err}");
        assert!(serde_json::from_str::<Isrc>("12").is_err());
    }

    #[test]
    fn schema_is_a_string() {
        let schema = serde_json::to_value(<Isrc as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["examples"][0], "CNA012400001");
    }

    fn isrc_parts() -> impl Strategy<Value = (String, String, String, String)> {
        ("[A-Za-z]{2}", "[A-Za-z0-9]{3}", "[0-9]{2}", "[0-9]{5}")
    }

    proptest! {
        #[test]
        fn any_well_formed_isrc_parses_to_its_canonical_form(
            (c, r, y, n) in isrc_parts(),
            hyphens in proptest::array::uniform3(any::<bool>()),
        ) {
            let sep = |h: bool| if h { "-" } else { "" };
            let input = format!("{c}{}{r}{}{y}{}{n}", sep(hyphens[0]), sep(hyphens[1]), sep(hyphens[2]));
            let isrc = Isrc::parse(&input).unwrap();
            let canonical = format!("{c}{r}{y}{n}").to_ascii_uppercase();
            prop_assert_eq!(isrc.as_str(), canonical.as_str());
            // Parsing the stored form or the display form gives the same value back.
            prop_assert_eq!(Isrc::parse(isrc.as_str()).unwrap(), isrc.clone());
            prop_assert_eq!(Isrc::parse(&isrc.hyphenated()).unwrap(), isrc);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = Isrc::parse(&s);
        }

        #[test]
        fn parsed_isrcs_are_always_canonical(s in "[A-Za-z0-9-]{10,16}") {
            if let Ok(isrc) = Isrc::parse(&s) {
                prop_assert_eq!(isrc.as_str().len(), 12);
                prop_assert!(isrc.as_str().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
            }
        }
    }
}
