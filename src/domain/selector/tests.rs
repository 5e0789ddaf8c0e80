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
    proptest::option::of((0i64..3_000).prop_map(|d| date("2017-01-01") + chrono::Duration::days(d)))
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
