//! Where rights apply: ISO 3166-1 alpha-2 territories, or the whole world.
//!
//! `Worldwide` is its own value, not "every code in the list": a worldwide
//! licence also covers places without an ISO 3166-1 code (Kosovo's `XK`, the
//! high seas, whatever is assigned next), so a list of all 249 codes does not
//! cover worldwide, while worldwide covers any list.

use crate::domain::validation::ValidationErrors;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted (for binary
/// search). Reserved and user-assigned codes (`UK`, `EU`, `XK`, ...) are not in it.
const ISO_3166_1_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// The JSON spelling of [`Territories::Worldwide`] (inside a one-element array).
pub const WORLDWIDE: &str = "worldwide";

/// Codes people commonly write that ISO 3166-1 spells differently.
const COMMON_MISTAKES: [(&str, &str); 2] = [("UK", "GB"), ("EL", "GR")];

/// One ISO 3166-1 alpha-2 territory, always uppercase (`CN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Territory(&'static str);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerritoryError {
    #[error("unknown territory `{0}`: expected an ISO 3166-1 alpha-2 code such as CN, HK or US")]
    Unknown(String),
    #[error("`{input}` is not an ISO 3166-1 code: use `{use_instead}`")]
    UseInstead {
        input: String,
        use_instead: &'static str,
    },
}

impl Territory {
    /// Parses an alpha-2 code in any case (`cn` → `CN`).
    pub fn parse(input: &str) -> Result<Territory, TerritoryError> {
        let upper = input.to_ascii_uppercase();
        if let Ok(i) = ISO_3166_1_ALPHA_2.binary_search(&upper.as_str()) {
            return Ok(Territory(ISO_3166_1_ALPHA_2[i]));
        }
        if let Some((_, use_instead)) = COMMON_MISTAKES.iter().find(|(bad, _)| *bad == upper) {
            return Err(TerritoryError::UseInstead {
                input: input.to_string(),
                use_instead,
            });
        }
        Err(TerritoryError::Unknown(input.to_string()))
    }

    /// The uppercase alpha-2 code.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Every assigned territory, in code order (249 of them).
    pub fn all() -> impl Iterator<Item = Territory> {
        ISO_3166_1_ALPHA_2.iter().map(|code| Territory(code))
    }
}

impl fmt::Display for Territory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Territory {
    type Err = TerritoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Territory::parse(s)
    }
}

impl Serialize for Territory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Territory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Territory::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn code_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples(["CN"])
}

impl utoipa::PartialSchema for Territory {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        code_schema()
            .min_length(Some(2))
            .max_length(Some(2))
            .description(Some(
                "ISO 3166-1 alpha-2 code, any case on input, uppercase on output.",
            ))
            .pattern(Some("^[A-Za-z]{2}$"))
            .into()
    }
}

impl utoipa::ToSchema for Territory {}

/// The territories of a holding, offer or grant.
///
/// `Only` is never empty when built through [`Territories::parse_list`],
/// [`Territories::only`] or deserialization; the set operations still treat an
/// empty `Only` as "nowhere" so a hand-built one cannot cause surprises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Territories {
    Worldwide,
    Only(BTreeSet<Territory>),
}

impl Territories {
    /// `Only(set)`, or `None` when the set is empty.
    pub fn only(set: BTreeSet<Territory>) -> Option<Territories> {
        (!set.is_empty()).then_some(Territories::Only(set))
    }

    pub fn single(territory: Territory) -> Territories {
        Territories::Only(BTreeSet::from([territory]))
    }

    pub fn is_worldwide(&self) -> bool {
        matches!(self, Territories::Worldwide)
    }

    /// Whether rights in these territories include `territory`.
    pub fn contains(&self, territory: Territory) -> bool {
        match self {
            Territories::Worldwide => true,
            Territories::Only(set) => set.contains(&territory),
        }
    }

    /// Whether `self` includes every place in `other` (a holding must cover
    /// what is licensed out of it). Only worldwide covers worldwide.
    pub fn covers(&self, other: &Territories) -> bool {
        match (self, other) {
            (Territories::Worldwide, _) => true,
            (Territories::Only(_), Territories::Worldwide) => false,
            (Territories::Only(mine), Territories::Only(theirs)) => theirs.is_subset(mine),
        }
    }

    /// Whether `self` and `other` share at least one place (two exclusive
    /// grants conflict only if they do).
    pub fn intersects(&self, other: &Territories) -> bool {
        match (self, other) {
            (Territories::Worldwide, Territories::Worldwide) => true,
            (Territories::Worldwide, Territories::Only(set))
            | (Territories::Only(set), Territories::Worldwide) => !set.is_empty(),
            (Territories::Only(a), Territories::Only(b)) => !a.is_disjoint(b),
        }
    }

    /// The places in both, or `None` when they share none.
    pub fn intersection(&self, other: &Territories) -> Option<Territories> {
        match (self, other) {
            (Territories::Worldwide, Territories::Worldwide) => Some(Territories::Worldwide),
            (Territories::Worldwide, Territories::Only(set))
            | (Territories::Only(set), Territories::Worldwide) => Territories::only(set.clone()),
            (Territories::Only(a), Territories::Only(b)) => {
                Territories::only(a.intersection(b).copied().collect())
            }
        }
    }

    /// Parses the JSON list form. Error fields are `"[i]"` for an entry and
    /// `""` for the list itself, to be appended to the list's own field name
    /// (or use [`Territories::parse_list_at`], which does that).
    pub fn parse_list(items: &[String]) -> Result<Territories, ValidationErrors> {
        Territories::parse_list_at("", items)
    }

    /// [`Territories::parse_list`] with error fields named `{field}[i]` and `{field}`.
    ///
    /// Entries are case-insensitive and duplicates collapse. `worldwide` must
    /// stand alone: `["worldwide", "CN"]` is refused rather than guessed at
    /// (it could mean "worldwide" or "worldwide except CN").
    pub fn parse_list_at(field: &str, items: &[String]) -> Result<Territories, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if items.is_empty() {
            errors.push(
                field,
                "must list at least one ISO 3166-1 alpha-2 territory code, or be [\"worldwide\"]",
            );
            return Err(errors);
        }
        let mut worldwide = false;
        let mut set = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            if item.eq_ignore_ascii_case(WORLDWIDE) {
                worldwide = true;
                continue;
            }
            match Territory::parse(item) {
                Ok(t) => {
                    set.insert(t);
                }
                Err(e) => errors.push(format!("{field}[{i}]"), e.to_string()),
            }
        }
        if worldwide && (!set.is_empty() || !errors.is_empty()) {
            for (i, item) in items.iter().enumerate() {
                if item.eq_ignore_ascii_case(WORLDWIDE) {
                    errors.push(
                        format!("{field}[{i}]"),
                        "`worldwide` cannot be combined with individual territories",
                    );
                }
            }
        }
        errors.into_result()?;
        if worldwide {
            Ok(Territories::Worldwide)
        } else {
            Ok(Territories::Only(set))
        }
    }

    /// The JSON list form: `["worldwide"]` or the sorted uppercase codes.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Territories::Worldwide => vec![WORLDWIDE.to_string()],
            Territories::Only(set) => set.iter().map(|t| t.as_str().to_string()).collect(),
        }
    }
}

impl fmt::Display for Territories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list().join(", "))
    }
}

impl Serialize for Territories {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_list().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Territories {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(deserializer)?;
        Territories::parse_list(&items).map_err(|errors| {
            let described: Vec<String> = errors
                .0
                .iter()
                .map(|e| {
                    if e.field.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{}: {}", e.field, e.message)
                    }
                })
                .collect();
            serde::de::Error::custom(described.join("; "))
        })
    }
}

impl utoipa::PartialSchema for Territories {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::ArrayBuilder;
        ArrayBuilder::new()
            .items(code_schema().description(Some(
                "ISO 3166-1 alpha-2 code (any case), or `worldwide` alone",
            )))
            .min_items(Some(1))
            .description(Some(
                "Territories as ISO 3166-1 alpha-2 codes, or `[\"worldwide\"]` for the whole \
                 world (which also covers places without a code). Returned sorted and uppercase.",
            ))
            .examples([
                serde_json::json!(["CN", "HK"]),
                serde_json::json!(["worldwide"]),
            ])
            .into()
    }
}

impl utoipa::ToSchema for Territories {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(code: &str) -> Territory {
        Territory::parse(code).unwrap()
    }

    fn only(codes: &[&str]) -> Territories {
        Territories::only(codes.iter().map(|c| t(c)).collect()).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const W: Territories = Territories::Worldwide;

    #[test]
    fn the_official_list_has_249_sorted_unique_codes() {
        assert_eq!(ISO_3166_1_ALPHA_2.len(), 249);
        assert_eq!(Territory::all().count(), 249);
        assert!(ISO_3166_1_ALPHA_2.windows(2).all(|w| w[0] < w[1]));
        assert!(ISO_3166_1_ALPHA_2
            .iter()
            .all(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())));
    }

    #[test]
    fn every_listed_code_parses_to_itself() {
        for code in ISO_3166_1_ALPHA_2 {
            assert_eq!(t(code).as_str(), code);
            assert_eq!(t(&code.to_ascii_lowercase()).as_str(), code);
        }
    }

    #[test]
    fn recently_assigned_and_edge_codes_are_known() {
        for code in ["SS", "BQ", "CW", "SX", "MK", "AQ", "UM", "AX"] {
            assert!(Territory::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn unassigned_and_reserved_codes_are_refused() {
        for code in [
            "XK", "EU", "ZZ", "QM", "AA", "AN", "YU", "CS", "XX", "", "C", "CHN", "1A", "C-",
        ] {
            assert!(
                matches!(Territory::parse(code), Err(TerritoryError::Unknown(_))),
                "{code}"
            );
        }
    }

    #[test]
    fn common_mistakes_get_a_hint() {
        assert_eq!(
            Territory::parse("uk"),
            Err(TerritoryError::UseInstead {
                input: "uk".into(),
                use_instead: "GB"
            })
        );
        assert!(Territory::parse("EL")
            .unwrap_err()
            .to_string()
            .contains("`GR`"));
    }

    #[test]
    fn territory_serde_is_the_code() {
        assert_eq!(serde_json::to_string(&t("cn")).unwrap(), "\"CN\"");
        assert_eq!(
            serde_json::from_str::<Territory>("\"hk\"").unwrap(),
            t("HK")
        );
        assert!(serde_json::from_str::<Territory>("\"XK\"").is_err());
    }

    #[test]
    fn parse_list_normalizes_and_deduplicates() {
        let parsed = Territories::parse_list(&strings(&["hk", "CN", "cn"])).unwrap();
        assert_eq!(parsed, only(&["CN", "HK"]));
        assert_eq!(parsed.to_list(), vec!["CN", "HK"]);
    }

    #[test]
    fn worldwide_is_case_insensitive() {
        for w in ["worldwide", "WORLDWIDE", "WorldWide"] {
            assert_eq!(Territories::parse_list(&strings(&[w])).unwrap(), W);
        }
        assert_eq!(
            Territories::parse_list(&strings(&["worldwide", "Worldwide"])).unwrap(),
            W
        );
    }

    #[test]
    fn worldwide_cannot_be_mixed_with_codes() {
        let errors = Territories::parse_list(&strings(&["CN", "worldwide"])).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "[1]");
        assert!(errors.0[0].message.contains("cannot be combined"));
    }

    #[test]
    fn empty_list_is_refused_on_the_list_itself() {
        let errors = Territories::parse_list(&[]).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "");
        let errors = Territories::parse_list_at("terms.territories", &[]).unwrap_err();
        assert_eq!(errors.0[0].field, "terms.territories");
    }

    #[test]
    fn every_bad_entry_is_reported_by_index() {
        let errors =
            Territories::parse_list(&strings(&["CN", "XX", "hk", "UK", "worldwide"])).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["[1]", "[3]", "[4]"]);
        assert!(errors.0[1].message.contains("GB"));

        let errors =
            Territories::parse_list_at("territories", &strings(&["CN", "XX"])).unwrap_err();
        assert_eq!(errors.0[0].field, "territories[1]");
    }

    #[test]
    fn json_form() {
        assert_eq!(serde_json::to_string(&W).unwrap(), r#"["worldwide"]"#);
        assert_eq!(
            serde_json::to_string(&only(&["HK", "CN"])).unwrap(),
            r#"["CN","HK"]"#
        );
        assert_eq!(
            serde_json::from_str::<Territories>(r#"["WorldWide"]"#).unwrap(),
            W
        );
        assert_eq!(
            serde_json::from_str::<Territories>(r#"["hk","cn"]"#).unwrap(),
            only(&["CN", "HK"])
        );
        for bad in [
            r#"[]"#,
            r#"["XK"]"#,
            r#"["worldwide","CN"]"#,
            r#""CN""#,
            r#"[1]"#,
        ] {
            assert!(serde_json::from_str::<Territories>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Territories>(r#"["CN","XX"]"#).unwrap_err();
        assert!(
            err.to_string().contains("[1]: unknown territory `XX`"),
            "{err}"
        );
    }

    #[test]
    fn covers_truth_table() {
        let cn = only(&["CN"]);
        let cn_hk = only(&["CN", "HK"]);
        let us = only(&["US"]);
        let all_codes = Territories::only(Territory::all().collect()).unwrap();
        let cases = [
            (&W, &W, true),
            (&W, &cn, true),
            (&W, &all_codes, true),
            (&cn, &W, false),
            (&all_codes, &W, false),
            (&cn_hk, &cn, true),
            (&cn, &cn_hk, false),
            (&cn, &cn, true),
            (&cn, &us, false),
            (&all_codes, &cn_hk, true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.covers(b), expected, "{a} covers {b}");
        }
    }

    #[test]
    fn intersects_truth_table() {
        let cn = only(&["CN"]);
        let cn_hk = only(&["CN", "HK"]);
        let hk_us = only(&["HK", "US"]);
        let us = only(&["US"]);
        let cases = [
            (&W, &W, true),
            (&W, &cn, true),
            (&cn, &W, true),
            (&cn, &cn_hk, true),
            (&cn_hk, &hk_us, true),
            (&cn, &us, false),
            (&cn_hk, &us, false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.intersects(b), expected, "{a} intersects {b}");
            assert_eq!(b.intersects(a), expected, "{b} intersects {a}");
        }
    }

    #[test]
    fn intersection_truth_table() {
        let cn = only(&["CN"]);
        let cn_hk = only(&["CN", "HK"]);
        let hk_us = only(&["HK", "US"]);
        let us = only(&["US"]);
        let cases = [
            (&W, &W, Some(W.clone())),
            (&W, &cn_hk, Some(cn_hk.clone())),
            (&cn_hk, &W, Some(cn_hk.clone())),
            (&cn_hk, &hk_us, Some(only(&["HK"]))),
            (&cn, &cn_hk, Some(cn.clone())),
            (&cn, &us, None),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.intersection(b), expected, "{a} ∩ {b}");
        }
    }

    #[test]
    fn a_hand_built_empty_only_is_nowhere() {
        let empty = Territories::Only(BTreeSet::new());
        assert!(!empty.intersects(&W));
        assert!(!W.intersects(&empty));
        assert_eq!(W.intersection(&empty), None);
        assert!(W.covers(&empty));
        assert!(only(&["CN"]).covers(&empty));
        assert!(!empty.contains(t("CN")));
        assert_eq!(Territories::only(BTreeSet::new()), None);
    }

    #[test]
    fn contains_and_display() {
        assert!(W.contains(t("CN")));
        assert!(only(&["CN", "HK"]).contains(t("HK")));
        assert!(!only(&["CN", "HK"]).contains(t("US")));
        assert_eq!(W.to_string(), "worldwide");
        assert_eq!(only(&["HK", "CN"]).to_string(), "CN, HK");
        assert!(Territories::single(t("JP")).contains(t("JP")));
    }

    #[test]
    fn schemas() {
        let list = serde_json::to_value(<Territories as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(list["type"], "array");
        assert_eq!(list["items"]["type"], "string");
        assert_eq!(list["minItems"], 1);
        // `worldwide` must fit the item schema.
        assert!(list["items"].get("maxLength").is_none());
        let one = serde_json::to_value(<Territory as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(one["type"], "string");
    }

    fn territories() -> impl Strategy<Value = Territories> {
        // A small pool of codes so random sets overlap often enough to be interesting.
        let pool: Vec<Territory> = ["CN", "HK", "MO", "TW", "JP", "US"]
            .iter()
            .map(|c| t(c))
            .collect();
        prop_oneof![
            1 => Just(Territories::Worldwide),
            4 => proptest::sample::subsequence(pool.clone(), 1..=pool.len())
                .prop_map(|v| Territories::Only(v.into_iter().collect())),
        ]
    }

    proptest! {
        #[test]
        fn set_laws(a in territories(), b in territories()) {
            prop_assert_eq!(a.intersects(&b), b.intersects(&a));
            prop_assert_eq!(a.intersection(&b), b.intersection(&a));
            prop_assert_eq!(a.intersects(&b), a.intersection(&b).is_some());
            if let Some(common) = a.intersection(&b) {
                prop_assert!(a.covers(&common) && b.covers(&common));
            }
            if a.covers(&b) {
                prop_assert!(a.intersects(&b));
                prop_assert_eq!(a.intersection(&b), Some(b.clone()));
            }
            prop_assert!(a.covers(&a));
        }

        #[test]
        fn json_round_trips(a in territories()) {
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<Territories>(&json).unwrap(), a);
        }

        #[test]
        fn territory_parse_never_panics(s in "\\PC{0,4}") {
            let _ = Territory::parse(&s);
        }
    }
}
