//! What a licence lets the licensee do with the recordings: a closed list, so
//! that "covers" and "conflicts" are decidable. Adding a usage is a product
//! decision (and an API change), not free text.

use crate::domain::stored::stored_enum;
use crate::domain::validation::ValidationErrors;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;

/// A kind of exploitation of a recording. The usages are independent of one
/// another: none implies another (a download licence does not include
/// streaming, and `video` does not include `sync`).
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
pub enum Usage {
    // Declaration order is the canonical order of a usage list (`Ord`), which
    // the term-sheet hash depends on: append new usages, never reorder.
    /// On-demand audio streaming: the listener picks the track (subscription
    /// or ad-supported), including offline caching inside the service while
    /// the subscription lasts.
    InteractiveStreaming,
    /// Programmed, radio-like audio streaming: the service picks the track
    /// (webcasting, simulcast, personalized radio with limited skips).
    NonInteractiveStreaming,
    /// Permanent downloads the user keeps (sold or given), as opposed to the
    /// offline cache of a streaming service.
    Download,
    /// Displaying the song's lyrics with the recording (static or
    /// time-synchronized).
    Lyrics,
    /// Audiovisual streaming of the recording: music videos, lyric videos,
    /// visualizers, and the recording in user-generated video features.
    Video,
    /// Synchronization in timed relation with an audiovisual work made by or
    /// for the licensee (advertising, film, series, games, trailers).
    Sync,
    /// Ringtones, ringback tones and alert tones.
    Ringtone,
    /// Performance to the public outside the licensee's own service: background
    /// music in venues and shops, events, public screenings.
    PublicPerformance,
}

stored_enum! {
    Usage {
        InteractiveStreaming = "interactive_streaming",
        NonInteractiveStreaming = "non_interactive_streaming",
        Download = "download",
        Lyrics = "lyrics",
        Video = "video",
        Sync = "sync",
        Ringtone = "ringtone",
        PublicPerformance = "public_performance",
    }
    unknown struct UnknownUsage = "unknown usage `{0}`: expected one of interactive_streaming, \
        non_interactive_streaming, download, lyrics, video, sync, ringtone, public_performance"
}

/// A non-empty set of usages (the usages of a holding, offer or grant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Usages(BTreeSet<Usage>);

impl Usages {
    /// The set, or `None` when it is empty.
    pub fn new(set: BTreeSet<Usage>) -> Option<Usages> {
        (!set.is_empty()).then_some(Usages(set))
    }

    pub fn single(usage: Usage) -> Usages {
        Usages(BTreeSet::from([usage]))
    }

    /// Every usage (what "all rights" means in this market).
    pub fn all() -> Usages {
        Usages(Usage::ALL.into_iter().collect())
    }

    pub fn as_set(&self) -> &BTreeSet<Usage> {
        &self.0
    }

    /// In canonical order.
    pub fn iter(&self) -> impl Iterator<Item = Usage> + '_ {
        self.0.iter().copied()
    }

    pub fn contains(&self, usage: Usage) -> bool {
        self.0.contains(&usage)
    }

    /// Whether `self` includes every usage in `other`.
    pub fn covers(&self, other: &Usages) -> bool {
        other.0.is_subset(&self.0)
    }

    /// Whether `self` and `other` share a usage.
    pub fn intersects(&self, other: &Usages) -> bool {
        !self.0.is_disjoint(&other.0)
    }

    /// The shared usages, or `None` when there are none.
    pub fn intersection(&self, other: &Usages) -> Option<Usages> {
        Usages::new(self.0.intersection(&other.0).copied().collect())
    }

    /// Parses the JSON list form. Error fields are `"[i]"` for an entry and
    /// `""` for the list itself, to be appended to the list's field name (or
    /// use [`Usages::parse_list_at`]). Duplicates collapse.
    pub fn parse_list(items: &[String]) -> Result<Usages, ValidationErrors> {
        Usages::parse_list_at("", items)
    }

    /// [`Usages::parse_list`] with error fields named `{field}[i]` and `{field}`.
    pub fn parse_list_at(field: &str, items: &[String]) -> Result<Usages, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if items.is_empty() {
            errors.push(field, "must list at least one usage");
            return Err(errors);
        }
        let mut set = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            match item.parse::<Usage>() {
                Ok(u) => {
                    set.insert(u);
                }
                Err(e) => errors.push(format!("{field}[{i}]"), e.to_string()),
            }
        }
        errors.into_result()?;
        Ok(Usages(set))
    }

    /// The JSON list form, in canonical order.
    pub fn to_list(&self) -> Vec<&'static str> {
        self.iter().map(Usage::as_str).collect()
    }
}

impl From<Usage> for Usages {
    fn from(usage: Usage) -> Self {
        Usages::single(usage)
    }
}

impl fmt::Display for Usages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list().join(", "))
    }
}

impl Serialize for Usages {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_list().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Usages {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(deserializer)?;
        Usages::parse_list(&items).map_err(|errors| {
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

impl utoipa::PartialSchema for Usages {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::ArrayBuilder;
        ArrayBuilder::new()
            .items(<Usage as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .description(Some(
                "A non-empty set of usages; duplicates collapse, returned in canonical order.",
            ))
            .examples([serde_json::json!([
                "interactive_streaming",
                "non_interactive_streaming"
            ])])
            .into()
    }
}

impl utoipa::ToSchema for Usages {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usages(list: &[Usage]) -> Usages {
        Usages::new(list.iter().copied().collect()).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    use Usage::*;

    #[test]
    fn all_lists_each_usage_once_in_order() {
        assert_eq!(Usage::ALL.len(), 8);
        assert!(Usage::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for u in Usage::ALL {
            assert_eq!(u.as_str().parse::<Usage>(), Ok(u));
            assert_eq!(u.to_string(), u.as_str());
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(json, format!("\"{}\"", u.as_str()));
            assert_eq!(serde_json::from_str::<Usage>(&json).unwrap(), u);
        }
    }

    #[test]
    fn the_documented_names() {
        let names: Vec<&str> = Usage::ALL.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "interactive_streaming",
                "non_interactive_streaming",
                "download",
                "lyrics",
                "video",
                "sync",
                "ringtone",
                "public_performance"
            ]
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        for s in [
            "",
            "streaming",
            "Download",
            "DOWNLOAD",
            "interactive-streaming",
            " sync",
        ] {
            let err = s.parse::<Usage>().unwrap_err();
            assert!(err.to_string().contains("expected one of"), "{s}");
            assert!(serde_json::from_str::<Usage>(&format!("\"{s}\"")).is_err());
        }
    }

    #[test]
    fn usages_are_never_empty() {
        assert_eq!(Usages::new(BTreeSet::new()), None);
        let errors = Usages::parse_list(&[]).unwrap_err();
        assert_eq!(errors.0[0].field, "");
        let errors = Usages::parse_list_at("terms.usages", &[]).unwrap_err();
        assert_eq!(errors.0[0].field, "terms.usages");
        assert!(serde_json::from_str::<Usages>("[]").is_err());
    }

    #[test]
    fn parse_list_collapses_duplicates_and_sorts() {
        let parsed =
            Usages::parse_list(&strings(&["download", "interactive_streaming", "download"]))
                .unwrap();
        assert_eq!(parsed, usages(&[InteractiveStreaming, Download]));
        assert_eq!(parsed.to_list(), vec!["interactive_streaming", "download"]);
    }

    #[test]
    fn parse_list_reports_every_bad_entry_by_index() {
        let errors =
            Usages::parse_list(&strings(&["download", "karaoke", "sync", "radio"])).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["[1]", "[3]"]);
        assert!(errors.0[0].message.contains("`karaoke`"));
        let errors = Usages::parse_list_at("usages", &strings(&["karaoke"])).unwrap_err();
        assert_eq!(errors.0[0].field, "usages[0]");
    }

    #[test]
    fn json_form() {
        let u = usages(&[NonInteractiveStreaming, InteractiveStreaming]);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"["interactive_streaming","non_interactive_streaming"]"#
        );
        assert_eq!(
            serde_json::from_str::<Usages>(
                r#"["non_interactive_streaming","interactive_streaming"]"#
            )
            .unwrap(),
            u
        );
        let err = serde_json::from_str::<Usages>(r#"["video","karaoke"]"#).unwrap_err();
        assert!(err.to_string().contains("[1]: unknown usage"), "{err}");
    }

    #[test]
    fn covers_intersects_intersection() {
        let streaming = usages(&[InteractiveStreaming, NonInteractiveStreaming]);
        let interactive = usages(&[InteractiveStreaming]);
        let download = usages(&[Download]);
        let all = Usages::all();

        assert!(streaming.covers(&interactive));
        assert!(!interactive.covers(&streaming));
        assert!(streaming.covers(&streaming));
        assert!(all.covers(&streaming));
        assert!(!streaming.covers(&all));
        assert!(!streaming.covers(&download));

        assert!(streaming.intersects(&interactive));
        assert!(interactive.intersects(&streaming));
        assert!(!streaming.intersects(&download));
        assert!(all.intersects(&download));

        assert_eq!(
            streaming.intersection(&interactive),
            Some(interactive.clone())
        );
        assert_eq!(streaming.intersection(&download), None);
        assert_eq!(all.intersection(&download), Some(download.clone()));
    }

    #[test]
    fn helpers() {
        let u = Usages::from(Video);
        assert!(u.contains(Video));
        assert!(!u.contains(Sync));
        assert_eq!(u.as_set().len(), 1);
        assert_eq!(Usages::all().iter().count(), 8);
        assert_eq!(usages(&[Sync, Lyrics]).to_string(), "lyrics, sync");
    }

    #[test]
    fn schemas() {
        let one = serde_json::to_value(<Usage as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(one["type"], "string");
        assert_eq!(one["enum"].as_array().unwrap().len(), 8);
        assert_eq!(one["enum"][0], "interactive_streaming");
        let list = serde_json::to_value(<Usages as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(list["type"], "array");
        assert_eq!(list["minItems"], 1);
        assert_eq!(list["items"]["enum"].as_array().unwrap().len(), 8);
    }

    fn any_usages() -> impl Strategy<Value = Usages> {
        proptest::sample::subsequence(Usage::ALL.to_vec(), 1..=Usage::ALL.len())
            .prop_map(|v| Usages(v.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn set_laws(a in any_usages(), b in any_usages()) {
            prop_assert_eq!(a.intersects(&b), b.intersects(&a));
            prop_assert_eq!(a.intersection(&b), b.intersection(&a));
            prop_assert_eq!(a.intersects(&b), a.intersection(&b).is_some());
            if let Some(common) = a.intersection(&b) {
                prop_assert!(a.covers(&common) && b.covers(&common));
            }
            if a.covers(&b) {
                prop_assert_eq!(a.intersection(&b), Some(b.clone()));
            }
            prop_assert!(Usages::all().covers(&a));
        }

        #[test]
        fn json_round_trips(a in any_usages()) {
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<Usages>(&json).unwrap(), a);
        }
    }
}
