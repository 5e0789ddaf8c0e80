use super::*;
use proptest::prelude::*;
use std::str::FromStr;

/// The term sheet printed in the spec, verbatim.
const SPEC_EXAMPLE: &str = r#"{
  "slice_id": "…",
  "territories": ["CN", "HK"],
  "usages": ["interactive_streaming", "non_interactive_streaming"],
  "start_date": "2027-01-01",
  "end_date": "2029-12-31",
  "exclusive": false,
  "sublicensable": false,
  "currency": "CNY",
  "upfront_fee": "1000000.00",
  "minimum_guarantee": "5000000.00",
  "per_stream_rate": "0.0045",
  "revenue_share_percent": null,
  "installments": [{"due_date": "2027-01-15", "amount": "3000000.00"},
                   {"due_date": "2027-07-15", "amount": "3000000.00"}],
  "clauses": "…",
  "respond_by": "2026-12-31T00:00:00Z"
}"#;

/// Pinned forever: if this changes, every stored signature stops matching.
const SPEC_EXAMPLE_HASH: &str = "bae9e42a213358720ed4df0f3721269023e2a675e46b02e377e845d818dd563d";

fn input() -> TermSheetInput {
    serde_json::from_str(SPEC_EXAMPLE).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Holds everything the spec example needs, and more.
fn ctx() -> TermsContext {
    TermsContext {
        territories: Territories::Worldwide,
        usages: Usages::all(),
        period: Period::new(date("2020-01-01"), date("2039-12-31")).unwrap(),
        sublicensable: true,
        exclusive: true,
        upstream: None,
        tracks_hash: s(EMPTY_SLICE_HASH),
    }
}

/// SHA-256 of no ISRCs at all: the content hash of an empty slice.
const EMPTY_SLICE_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn parse(input: &TermSheetInput) -> Result<TermSheet, ValidationErrors> {
    TermSheet::parse(input, &ctx(), now())
}

fn sheet(input: &TermSheetInput) -> TermSheet {
    match parse(input) {
        Ok(s) => s,
        Err(e) => panic!("{input:?} refused: {e:?}"),
    }
}

/// The fields of the errors `input` gets (parsed with `ctx`).
fn fields_with(input: &TermSheetInput, ctx: &TermsContext) -> Vec<String> {
    match TermSheet::parse(input, ctx, now()) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.0.into_iter().map(|f| f.field).collect(),
    }
}

fn fields(input: &TermSheetInput) -> Vec<String> {
    fields_with(input, &ctx())
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn the_spec_example_parses() {
    let t = sheet(&input());
    assert_eq!(t.slice_id(), "…");
    assert_eq!(t.currency().code(), "CNY");
    assert_eq!(t.upfront_fee(), Some(Decimal::new(100_000_000, 2)));
    assert_eq!(t.per_stream_rate(), Some(Decimal::new(45, 4)));
    assert_eq!(t.revenue_share_percent(), None);
    assert_eq!(t.installments().len(), 2);
    assert_eq!(t.scheduled_total().to_string(), "6000000.00");
    assert_eq!(t.period().days(), 1096); // 2028 is a leap year
    assert!(!t.exclusive());
}

/// Revisions proposed before the terms committed to the tracks read back with
/// exactly the canonical JSON and hash that were signed.
#[test]
fn golden_canonical_json_and_hash_of_the_spec_example() {
    let t = TermSheet::from_stored(&input()).expect("the spec example is valid");
    assert_eq!(t.tracks_hash(), None);
    assert_eq!(
        t.canonical_json(),
        concat!(
            r#"{"clauses":"…","currency":"CNY","end_date":"2029-12-31","exclusive":false,"#,
            r#""installments":[{"amount":"3000000.00","due_date":"2027-01-15"},"#,
            r#"{"amount":"3000000.00","due_date":"2027-07-15"}],"#,
            r#""minimum_guarantee":"5000000.00","per_stream_rate":"0.0045","#,
            r#""respond_by":"2026-12-31T00:00:00Z","revenue_share_percent":null,"#,
            r#""slice_id":"…","start_date":"2027-01-01","sublicensable":false,"#,
            r#""territories":["CN","HK"],"upfront_fee":"1000000.00","#,
            r#""usages":["interactive_streaming","non_interactive_streaming"]}"#
        )
    );
    assert_eq!(t.hash(), SPEC_EXAMPLE_HASH);
    assert_eq!(t.hash().len(), 64);
}

/// Terms proposed now carry the slice's tracks hash, between `territories` and
/// `upfront_fee` in key order; a stored revision reads it back unchanged.
#[test]
fn proposed_terms_commit_to_the_slice_tracks() {
    let t = sheet(&input());
    assert_eq!(t.tracks_hash(), Some(EMPTY_SLICE_HASH));
    let json = t.canonical_json();
    assert!(json.contains(&format!(
        r#""territories":["CN","HK"],"tracks_hash":"{EMPTY_SLICE_HASH}","upfront_fee""#
    )));
    assert_ne!(t.hash(), SPEC_EXAMPLE_HASH);
    let stored = TermSheet::from_stored(&t.to_input()).expect("stored terms read back");
    assert_eq!(stored.hash(), t.hash());
    let diff = TermSheet::from_stored(&input()).expect("valid").diff(&t);
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].field, "tracks_hash");
}

#[test]
fn a_pinned_tracks_hash_must_match_the_slice() {
    let mut pinned = input();
    pinned.tracks_hash = Some(s(EMPTY_SLICE_HASH));
    assert_eq!(sheet(&pinned), sheet(&input()));
    pinned.tracks_hash = Some("0".repeat(64));
    let errors = parse(&pinned).expect_err("another slice's hash is refused");
    assert_eq!(errors.0[0].field, "tracks_hash");
    let mut stored = input();
    stored.tracks_hash = Some(s("not hex"));
    assert!(TermSheet::from_stored(&stored).is_err());
}

#[test]
fn reformatted_terms_hash_identically() {
    let mut other = input();
    other.territories = vec![s("hk"), s("CN"), s("HK")];
    other.usages = vec![
        s("non_interactive_streaming"),
        s("interactive_streaming"),
        s("interactive_streaming"),
    ];
    other.currency = s("cny");
    other.upfront_fee = Some(s("1000000"));
    other.minimum_guarantee = Some(s("5000000.0"));
    other.per_stream_rate = Some(s("0.004500"));
    other.installments[0].amount = s("3000000");
    other.respond_by = Some(s("2026-12-31T08:00:00.250+08:00"));
    let (a, b) = (sheet(&input()), sheet(&other));
    assert_eq!(a, b);
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(a.hash(), b.hash());
    assert!(a.diff(&b).is_empty());
}

#[test]
fn serializes_back_to_the_input_shape() {
    let t = sheet(&input());
    let v = serde_json::to_value(&t).unwrap();
    let mut expected: Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();
    expected["tracks_hash"] = Value::String(s(EMPTY_SLICE_HASH));
    assert_eq!(v, expected);
    let back: TermSheetInput = serde_json::from_value(v).unwrap();
    assert_eq!(sheet(&back), t);
    assert_eq!(TermSheet::from_stored(&t.to_input()), Ok(t));
}

#[test]
fn canonical_form_uses_nulls_and_jpy_amounts() {
    let mut i = input();
    i.currency = s("JPY");
    i.upfront_fee = None;
    i.minimum_guarantee = Some(s("6000000"));
    i.installments[0].amount = s("3000000");
    i.installments[1].amount = s("3000000");
    i.per_stream_rate = None;
    i.revenue_share_percent = Some(s("12.5000"));
    i.clauses = Some(s("  \n"));
    i.respond_by = None;
    i.territories = vec![s("Worldwide")];
    let c = sheet(&i).canonical_json();
    for part in [
        r#""upfront_fee":null"#,
        r#""minimum_guarantee":"6000000""#,
        r#""amount":"3000000""#,
        r#""per_stream_rate":null"#,
        r#""revenue_share_percent":"12.5""#,
        r#""clauses":null"#,
        r#""respond_by":null"#,
        r#""territories":["worldwide"]"#,
    ] {
        assert!(c.contains(part), "{part} not in {c}");
    }
    assert!(!c.contains(' '));
}

#[test]
fn canonical_keys_are_sorted_and_complete() {
    let v: Value = serde_json::from_str(&sheet(&with_royalties()).canonical_json()).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys.len(), TERM_FIELDS.len());
    let mut fields = TERM_FIELDS.to_vec();
    fields.sort();
    assert_eq!(sorted, fields.iter().collect::<Vec<_>>());
}

#[test]
fn usages_are_sorted_by_name() {
    let mut i = input();
    i.usages = vec![s("video"), s("download"), s("public_performance")];
    assert_eq!(
        sheet(&i).to_input().usages,
        vec![s("download"), s("public_performance"), s("video")]
    );
}

#[test]
fn diff_lists_exactly_the_changed_terms_in_order() {
    let a = sheet(&input());
    let mut i = input();
    i.respond_by = Some(s("2027-01-15T00:00:00Z"));
    i.exclusive = true;
    i.territories = vec![s("CN")];
    let b = sheet(&i);
    let d = a.diff(&b);
    assert_eq!(
        d.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        vec!["territories", "exclusive", "respond_by"]
    );
    assert_eq!(d[0].old, serde_json::json!(["CN", "HK"]));
    assert_eq!(d[0].new, serde_json::json!(["CN"]));
    assert_eq!(d[1].old, Value::Bool(false));
    assert_eq!(d[2].new, Value::String(s("2027-01-15T00:00:00Z")));
    assert!(a.diff(&a).is_empty());
    assert_eq!(b.diff(&a).len(), 3);
}

#[test]
fn diff_of_a_new_fee_shows_null_before() {
    let a = sheet(&input());
    let mut i = input();
    i.revenue_share_percent = Some(s("15"));
    let d = a.diff(&sheet(&i));
    assert_eq!(
        d,
        vec![TermChange {
            field: s("revenue_share_percent"),
            old: Value::Null,
            new: Value::String(s("15")),
        }]
    );
    assert_eq!(
        serde_json::to_value(&d[0]).unwrap(),
        serde_json::json!({"field": "revenue_share_percent", "old": null, "new": "15"})
    );
}

// --- validation, one rule at a time ---

#[test]
fn slice_id_must_be_present() {
    for bad in ["", "   ", "a\u{0}b"] {
        let mut i = input();
        i.slice_id = s(bad);
        assert_eq!(fields(&i), vec!["slice_id"], "{bad:?}");
    }
    let mut i = input();
    i.slice_id = "x".repeat(MAX_SLICE_ID_CHARS + 1);
    assert_eq!(fields(&i), vec!["slice_id"]);
}

#[test]
fn territories_and_usages_must_be_valid() {
    let mut i = input();
    i.territories = vec![s("CN"), s("XX")];
    i.usages = vec![s("streaming")];
    assert_eq!(fields(&i), vec!["territories[1]", "usages[0]"]);
    let mut i = input();
    i.territories = vec![];
    i.usages = vec![];
    assert_eq!(fields(&i), vec!["territories", "usages"]);
}

#[test]
fn territories_and_usages_must_be_held() {
    let mut c = ctx();
    c.territories = Territories::parse_list(&[s("CN")]).unwrap();
    c.usages = Usages::single(Usage::InteractiveStreaming);
    assert_eq!(
        fields_with(&input(), &c),
        vec!["territories[1]", "usages[1]"]
    );
    let mut i = input();
    i.territories = vec![s("worldwide")];
    assert_eq!(fields_with(&i, &c), vec!["territories[0]", "usages[1]"]);
}

#[test]
fn dates_must_be_valid_and_in_order() {
    for bad in [
        "2027-1-01",
        "2027-02-30",
        "27-01-01",
        "2027/01/01",
        "+2027-01-01",
        "",
    ] {
        let mut i = input();
        i.start_date = s(bad);
        assert_eq!(fields(&i), vec!["start_date"], "{bad}");
    }
    let mut i = input();
    i.start_date = s("2030-01-01");
    assert_eq!(fields(&i), vec!["end_date"]);
    // A one-day term is fine (both ends inclusive).
    let mut i = input();
    i.start_date = s("2029-12-31");
    sheet(&i);
}

#[test]
fn term_must_lie_within_the_holding_period() {
    let mut c = ctx();
    c.period = Period::new(date("2027-06-01"), date("2029-06-30")).unwrap();
    assert_eq!(fields_with(&input(), &c), vec!["start_date", "end_date"]);
    c.period = Period::new(date("2027-01-01"), date("2029-12-31")).unwrap();
    TermSheet::parse(&input(), &c, now()).unwrap();
}

#[test]
fn sublicensable_terms_need_a_sublicensable_holding() {
    let mut c = ctx();
    c.sublicensable = false;
    TermSheet::parse(&input(), &c, now()).unwrap();
    let mut i = input();
    i.sublicensable = true;
    assert_eq!(fields_with(&i, &c), vec!["sublicensable"]);
}

#[test]
fn currency_must_be_iso_4217() {
    let mut i = input();
    i.currency = s("RMB");
    assert_eq!(fields(&i), vec!["currency"]);
    // Amount shapes are still checked without a currency.
    i.upfront_fee = Some(s("1e6"));
    assert_eq!(fields(&i), vec!["currency", "upfront_fee"]);
}

#[test]
fn amounts_must_be_non_negative_with_the_currency_decimals() {
    for bad in [
        "-1.00",
        "1000000.001",
        "1,000,000.00",
        "1e6",
        "",
        " 1.00",
        ".5",
        "abc",
    ] {
        let mut i = input();
        i.upfront_fee = Some(s(bad));
        assert_eq!(fields(&i), vec!["upfront_fee"], "{bad}");
        let mut i = input();
        i.minimum_guarantee = Some(s(bad));
        assert_eq!(fields(&i), vec!["minimum_guarantee"], "{bad}");
    }
    let mut i = input();
    i.currency = s("JPY");
    assert_eq!(
        fields(&i),
        vec![
            "upfront_fee",
            "minimum_guarantee",
            "installments[0].amount",
            "installments[1].amount"
        ]
    );
}

#[test]
fn per_stream_rate_may_have_up_to_ten_decimals() {
    let mut i = input();
    i.per_stream_rate = Some(s("0.0000000001"));
    assert_eq!(sheet(&i).per_stream_rate(), Some(Decimal::new(1, 10)));
    i.per_stream_rate = Some(s("0.00000000001"));
    assert_eq!(fields(&i), vec!["per_stream_rate"]);
    i.per_stream_rate = Some(s("-0.1"));
    assert_eq!(fields(&i), vec!["per_stream_rate"]);
}

#[test]
fn revenue_share_is_a_percentage_with_four_decimals() {
    for ok in ["0", "100", "100.0000", "12.3456"] {
        let mut i = input();
        i.revenue_share_percent = Some(s(ok));
        sheet(&i);
    }
    for bad in ["100.0001", "12.34567", "-1", "101", "50%"] {
        let mut i = input();
        i.revenue_share_percent = Some(s(bad));
        assert_eq!(fields(&i), vec!["revenue_share_percent"], "{bad}");
    }
}

#[test]
fn at_least_one_fee_must_be_greater_than_zero() {
    let mut i = input();
    i.upfront_fee = None;
    i.minimum_guarantee = Some(s("0"));
    i.per_stream_rate = Some(s("0.0000"));
    i.revenue_share_percent = None;
    i.installments = vec![];
    assert_eq!(fields(&i), vec!["fee_model"]);
    i.revenue_share_percent = Some(s("0.0001"));
    let t = sheet(&i);
    assert_eq!(t.scheduled_total().to_string(), "0.00");
    // A fee that fails to parse is reported on its own, not as a missing fee model.
    i.revenue_share_percent = Some(s("x"));
    assert_eq!(fields(&i), vec!["revenue_share_percent"]);
}

#[test]
fn installments_must_add_up_exactly() {
    let mut i = input();
    i.installments[1].amount = s("2999999.99");
    assert_eq!(fields(&i), vec!["installments"]);
    let mut i = input();
    i.installments.clear();
    assert_eq!(fields(&i), vec!["installments"]);
    // Nothing to schedule: installments must then be empty.
    let mut i = input();
    i.upfront_fee = None;
    i.minimum_guarantee = None;
    assert_eq!(fields(&i), vec!["installments"]);
    i.installments.clear();
    sheet(&i);
}

#[test]
fn installment_amounts_must_be_positive_and_valid() {
    let mut i = input();
    i.installments[0].amount = s("0.00");
    i.installments[1].amount = s("6000000.00");
    assert_eq!(fields(&i), vec!["installments[0].amount"]);
    i.installments[0].amount = s("1.234");
    assert_eq!(fields(&i), vec!["installments[0].amount"]);
}

#[test]
fn installment_due_dates_are_ordered_and_not_after_the_end() {
    let mut i = input();
    i.installments[1].due_date = s("2030-01-01");
    assert_eq!(fields(&i), vec!["installments[1].due_date"]);
    let mut i = input();
    i.installments[1].due_date = s("2027-01-14");
    assert_eq!(fields(&i), vec!["installments[1].due_date"]);
    let mut i = input();
    i.installments[0].due_date = s("2027-13-01");
    assert_eq!(fields(&i), vec!["installments[0].due_date"]);
    // Before the start (on signature), on the last day, and equal dates are fine.
    let mut i = input();
    i.installments[0].due_date = s("2026-07-01");
    i.installments[1].due_date = s("2029-12-31");
    sheet(&i);
    i.installments[1].due_date = s("2026-07-01");
    sheet(&i);
}

#[test]
fn installments_are_bounded() {
    let mut i = input();
    i.installments = vec![
        InstallmentInput {
            due_date: s("2027-01-15"),
            amount: s("1.00"),
        };
        MAX_INSTALLMENTS + 1
    ];
    assert_eq!(fields(&i), vec!["installments"]);
}

#[test]
fn respond_by_must_be_a_future_instant() {
    let mut i = input();
    i.respond_by = Some(s("2026-06-01T12:00:00Z"));
    assert_eq!(fields(&i), vec!["respond_by"]);
    for bad in ["2026-12-31", "tomorrow", "2026-12-31T00:00:00"] {
        i.respond_by = Some(s(bad));
        assert_eq!(fields(&i), vec!["respond_by"], "{bad}");
    }
    i.respond_by = Some(s("2026-06-01T12:00:01Z"));
    sheet(&i);
    i.respond_by = None;
    assert_eq!(sheet(&i).respond_by(), None);
    // A stored revision whose respond_by has passed still loads.
    i.respond_by = Some(s("2020-01-01T00:00:00Z"));
    assert!(TermSheet::from_stored(&i).is_ok());
}

#[test]
fn clauses_are_bounded_free_text() {
    let mut i = input();
    i.clauses = Some("é".repeat(MAX_CLAUSES_CHARS));
    sheet(&i);
    i.clauses = Some("é".repeat(MAX_CLAUSES_CHARS + 1));
    assert_eq!(fields(&i), vec!["clauses"]);
    i.clauses = Some(s("line one\r\n\tline two"));
    assert_eq!(sheet(&i).clauses(), Some("line one\r\n\tline two"));
    i.clauses = Some(s("nul\u{0}"));
    assert_eq!(fields(&i), vec!["clauses"]);
}

#[test]
fn every_error_is_collected() {
    let mut i = input();
    i.slice_id = s("");
    i.territories = vec![s("ZZ")];
    i.start_date = s("soon");
    i.currency = s("CNY");
    i.upfront_fee = Some(s("-5"));
    i.installments[1].due_date = s("2020-01-01");
    i.clauses = Some("x".repeat(MAX_CLAUSES_CHARS + 1));
    i.respond_by = Some(s("2000-01-01T00:00:00Z"));
    assert_eq!(
        fields(&i),
        vec![
            "slice_id",
            "territories[0]",
            "start_date",
            "upfront_fee",
            "installments[1].due_date",
            "clauses",
            "respond_by"
        ]
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut v: Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();
    v["upfront_fees"] = Value::String(s("1.00"));
    assert!(serde_json::from_value::<TermSheetInput>(v).is_err());
}

// --- properties ---

const CODES: [&str; 8] = ["CN", "HK", "MO", "TW", "SG", "JP", "US", "GB"];

/// A valid input, canonically spelled, with `extra` knobs for reformatting.
#[derive(Debug, Clone)]
struct Generated {
    territories: Vec<&'static str>,
    usages: Vec<Usage>,
    currency: &'static str,
    upfront_units: u64,
    guarantee_units: u64,
    parts: usize,
    rate: Option<(u64, u32)>,
    share: Option<u32>,
    respond_offset_minutes: i32,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop::sample::subsequence(CODES.to_vec(), 1..=CODES.len()),
        prop::sample::subsequence(Usage::ALL.to_vec(), 1..=Usage::ALL.len()),
        prop::sample::select(vec!["CNY", "USD", "JPY", "BHD"]),
        0u64..5_000_000,
        0u64..5_000_000,
        1usize..5,
        prop::option::of((0u64..100_000, 0u32..=8)),
        prop::option::of(0u32..=1_000_000),
        -720i32..=840,
    )
        .prop_map(
            |(territories, usages, currency, up, mg, parts, rate, share, offset)| Generated {
                territories,
                usages,
                currency,
                upfront_units: up,
                guarantee_units: mg,
                parts,
                rate,
                share,
                respond_offset_minutes: offset,
            },
        )
        .prop_filter("needs a fee", |g| {
            g.upfront_units + g.guarantee_units > 0
                || g.rate.is_some_and(|(m, _)| m > 0)
                || g.share.is_some_and(|p| p > 0)
        })
}

impl Generated {
    /// `reformat` spells the same terms differently.
    fn input(&self, reformat: bool) -> TermSheetInput {
        let currency = Currency::parse(self.currency).unwrap();
        let minor = currency.minor_units();
        // Whole units, so "1000" and "1000.00" are both valid spellings.
        let amount = |units: u64| {
            let d = Decimal::from(units);
            if reformat {
                d.to_string()
            } else {
                currency.format_amount(d)
            }
        };
        let total = Decimal::from(self.upfront_units + self.guarantee_units);
        let installments = if total.is_zero() {
            vec![]
        } else {
            currency
                .split_evenly(total, self.parts)
                .unwrap()
                .into_iter()
                .enumerate()
                .map(|(i, a)| InstallmentInput {
                    due_date: format!("2027-0{}-15", i + 1),
                    amount: {
                        let text = currency.format_amount(a);
                        if reformat && minor > 0 && a.fract().is_zero() {
                            a.trunc().to_string()
                        } else {
                            text
                        }
                    },
                })
                .collect()
        };
        let mut territories: Vec<String> = self.territories.iter().map(|c| c.to_string()).collect();
        territories.sort();
        let mut usages: Vec<String> = self.usages.iter().map(|u| s(u.as_str())).collect();
        usages.sort();
        if reformat {
            territories.reverse();
            territories = territories.iter().map(|c| c.to_lowercase()).collect();
            territories.push(territories[0].clone());
            usages.reverse();
            usages.push(usages[0].clone());
        }
        let rate = self.rate.map(|(m, scale)| {
            let r = Decimal::new(m as i64, scale);
            if reformat {
                // Padded with trailing zeros up to the 10 decimals allowed.
                let mut padded = r;
                padded.rescale(10);
                padded.to_string()
            } else {
                r.normalize().to_string()
            }
        });
        let share = self.share.map(|p| {
            let d = Decimal::new(i64::from(p), 4);
            if reformat {
                d.to_string()
            } else {
                d.normalize().to_string()
            }
        });
        let respond = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z").unwrap();
        let respond_by = if reformat {
            let offset = chrono::FixedOffset::east_opt(self.respond_offset_minutes * 60).unwrap();
            respond.with_timezone(&offset).to_rfc3339()
        } else {
            s("2026-12-31T00:00:00Z")
        };
        TermSheetInput {
            slice_id: s("slice-1"),
            territories,
            usages,
            start_date: s("2027-01-01"),
            end_date: s("2029-12-31"),
            exclusive: true,
            sublicensable: false,
            currency: if reformat {
                self.currency.to_lowercase()
            } else {
                s(self.currency)
            },
            upfront_fee: (self.upfront_units > 0).then(|| amount(self.upfront_units)),
            minimum_guarantee: (self.guarantee_units > 0).then(|| amount(self.guarantee_units)),
            per_stream_rate: rate,
            revenue_share_percent: share,
            installments,
            clauses: Some(s("Standard clauses.")),
            respond_by: Some(respond_by),
            tracks_hash: None,
            royalties: None,
        }
    }
}

/// One change to the spec example, and the terms it should show up in.
fn mutation() -> impl Strategy<Value = (TermSheetInput, Vec<&'static str>)> {
    let base = input();
    let b = base.clone();
    prop_oneof![
        "[a-z0-9-]{1,20}".prop_map({
            let b = b.clone();
            move |id| {
                let mut i = b.clone();
                i.slice_id = id;
                (i, vec!["slice_id"])
            }
        }),
        prop::sample::subsequence(CODES.to_vec(), 1..=CODES.len())
            .prop_filter("a change", |t| t != &vec!["CN", "HK"])
            .prop_map({
                let b = b.clone();
                move |t| {
                    let mut i = b.clone();
                    i.territories = t.into_iter().map(s).collect();
                    (i, vec!["territories"])
                }
            }),
        prop::sample::subsequence(Usage::ALL.to_vec(), 1..=Usage::ALL.len())
            .prop_filter("a change", |u| {
                u != &vec![Usage::InteractiveStreaming, Usage::NonInteractiveStreaming]
            })
            .prop_map({
                let b = b.clone();
                move |u| {
                    let mut i = b.clone();
                    i.usages = u.into_iter().map(|u| s(u.as_str())).collect();
                    (i, vec!["usages"])
                }
            }),
        (1i64..2000).prop_map({
            let b = b.clone();
            move |days| {
                let mut i = b.clone();
                i.start_date = format_date(date("2027-01-01") - chrono::Days::new(days as u64));
                (i, vec!["start_date"])
            }
        }),
        (1u64..3000).prop_map({
            let b = b.clone();
            move |days| {
                let mut i = b.clone();
                i.end_date = format_date(date("2029-12-31") + chrono::Days::new(days));
                (i, vec!["end_date"])
            }
        }),
        Just({
            let mut i = b.clone();
            i.exclusive = true;
            (i, vec!["exclusive"])
        }),
        Just({
            let mut i = b.clone();
            i.sublicensable = true;
            (i, vec!["sublicensable"])
        }),
        prop::sample::select(vec!["USD", "EUR", "HKD", "GBP", "SGD"]).prop_map({
            let b = b.clone();
            move |c| {
                let mut i = b.clone();
                i.currency = s(c);
                (i, vec!["currency"])
            }
        }),
        (1i64..100_000_000).prop_map({
            let b = b.clone();
            move |cents| {
                // Moves money between the two scheduled fees: the total is unchanged.
                let mut i = b.clone();
                let d = Decimal::new(cents.min(100_000_000), 2);
                i.upfront_fee = Some((Decimal::new(100_000_000, 2) + d).to_string());
                i.minimum_guarantee = Some((Decimal::new(500_000_000, 2) - d).to_string());
                (i, vec!["upfront_fee", "minimum_guarantee"])
            }
        }),
        (0u64..1_000_000_000u64, 0u32..=10)
            .prop_filter("a change", |(m, sc)| {
                Decimal::new(*m as i64, *sc).normalize() != Decimal::new(45, 4)
            })
            .prop_map({
                let b = b.clone();
                move |(m, sc)| {
                    let mut i = b.clone();
                    i.per_stream_rate = Some(Decimal::new(m as i64, sc).to_string());
                    (i, vec!["per_stream_rate"])
                }
            }),
        (0u32..=1_000_000).prop_map({
            let b = b.clone();
            move |p| {
                let mut i = b.clone();
                i.revenue_share_percent = Some(Decimal::new(i64::from(p), 4).to_string());
                (i, vec!["revenue_share_percent"])
            }
        }),
        (1i64..299_999_999).prop_map({
            let b = b.clone();
            move |cents| {
                let mut i = b.clone();
                let d = Decimal::new(cents, 2);
                let three = Decimal::new(300_000_000, 2);
                i.installments[0].amount = (three + d).to_string();
                i.installments[1].amount = (three - d).to_string();
                (i, vec!["installments"])
            }
        }),
        (1u64..180).prop_map({
            let b = b.clone();
            move |days| {
                let mut i = b.clone();
                i.installments[1].due_date =
                    format_date(date("2027-07-15") + chrono::Days::new(days));
                (i, vec!["installments"])
            }
        }),
        ".{1,200}"
            .prop_filter("a change", |c| {
                c != "…" && !c.trim().is_empty() && !has_forbidden_control(c, true)
            })
            .prop_map({
                let b = b.clone();
                move |c| {
                    let mut i = b.clone();
                    i.clauses = Some(c);
                    (i, vec!["clauses"])
                }
            }),
        Just({
            let mut i = b.clone();
            i.clauses = None;
            (i, vec!["clauses"])
        }),
        (1i64..100_000_000).prop_map(move |secs| {
            let mut i = base.clone();
            let t = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z").unwrap()
                + chrono::Duration::seconds(secs);
            i.respond_by = Some(t.to_rfc3339());
            (i, vec!["respond_by"])
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_same_terms_spelled_differently_hash_identically(g in generated()) {
        let plain = g.input(false);
        let odd = g.input(true);
        let a = parse(&plain).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let b = parse(&odd).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(a.hash(), b.hash());
        prop_assert_eq!(&a, &b);
        // The canonical spelling is what a TermSheet serializes to, and parses back equal.
        prop_assert_eq!(a.to_input(), TermSheetInput { tracks_hash: Some(s(EMPTY_SLICE_HASH)), ..plain });
        prop_assert_eq!(sheet(&b.to_input()), b);
    }

    #[test]
    fn any_single_change_changes_the_hash((changed, expected) in mutation()) {
        let base = sheet(&input());
        let other = parse(&changed).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_ne!(base.hash(), other.hash());
        let d = base.diff(&other);
        prop_assert_eq!(d.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), expected);
        prop_assert!(d.iter().all(|c| c.old != c.new));
    }
}

/// The worked example (c) of docs/royalties.md as royalty terms: the greater of
/// 60 % of revenue and 0.00225 per stream, with an advance and a guarantee.
fn with_royalties() -> TermSheetInput {
    let mut i = input();
    i.currency = s("USD");
    i.minimum_guarantee = None;
    i.per_stream_rate = None;
    i.revenue_share_percent = None;
    i.royalties = Some(
        serde_json::from_str(
            r#"{
              "advance": {"amount": "5000000.00", "recoupable": true},
              "minimum_guarantee": {"amount": "8000000", "per": "term"},
              "revenue_share": {"percent": "60.00"},
              "per_stream_floor": "0.002250",
              "combination": "greater_of",
              "accounting_period": "quarterly",
              "statement_due_days": 45
            }"#,
        )
        .unwrap(),
    );
    i
}

/// Pinned: a sheet with royalty terms writes them as one canonical object
/// (keys sorted, nulls for absent optionals, no numbers).
#[test]
fn golden_canonical_json_of_royalty_terms() {
    let t = sheet(&with_royalties());
    let json = t.canonical_json();
    let royalties = concat!(
        r#""royalties":{"accounting_period":"quarterly","#,
        r#""advance":{"amount":"5000000.00","recoupable":true},"combination":"greater_of","#,
        r#""minimum_guarantee":{"amount":"8000000.00","per":"term"},"#,
        r#""per_stream_floor":"0.00225","per_subscriber_floor":null,"#,
        r#""revenue_share":{"carve_out_percent":"0","percent":"60"},"statement_due_days":"45"}"#
    );
    assert!(json.contains(royalties), "{json}");
    assert!(json.contains(
        r#""respond_by":"2026-12-31T00:00:00Z","revenue_share_percent":null,"royalties":{"#
    ));
    assert_eq!(
        TermSheet::from_stored(&t.to_input()).unwrap().hash(),
        t.hash(),
        "the stored form hashes like the proposed one"
    );
}

#[test]
fn royalty_terms_are_the_economics_statements_use() {
    use crate::domain::royalty::{
        AccountingPeriod, Advance, Combination, Economics, GuaranteeScope, MinimumGuarantee,
        RevenueShare,
    };
    let t = sheet(&with_royalties());
    let usd = Currency::parse("USD").unwrap();
    assert_eq!(
        t.economics(),
        Economics {
            currency: usd,
            advance: Some(Advance {
                amount: Decimal::new(500_000_000, 2),
                recoupable: true
            }),
            minimum_guarantee: Some(MinimumGuarantee {
                amount: Decimal::new(800_000_000, 2),
                scope: GuaranteeScope::Term
            }),
            revenue_share: Some(RevenueShare {
                percent: Decimal::new(60, 0),
                carve_out_percent: Decimal::ZERO
            }),
            per_stream_floor: Some(Decimal::new(225, 5)),
            per_subscriber_floor: None,
            combination: Combination::GreaterOf,
            accounting_period: AccountingPeriod::Quarterly,
            statement_due_days: 45,
        }
    );
    // Installments pay the fee and the advance.
    assert_eq!(t.scheduled_total().to_string(), "6000000.00");
    // A sheet with the earlier fields reads as it always did.
    let old = sheet(&input());
    assert_eq!(
        old.economics(),
        Economics::from_earlier_terms(
            old.currency(),
            old.minimum_guarantee(),
            old.per_stream_rate(),
            old.revenue_share_percent()
        )
    );
}

#[test]
fn royalty_terms_spelled_differently_hash_the_same() {
    let mut other = with_royalties();
    let r = other.royalties.as_mut().unwrap();
    r.per_stream_floor = Some(s("0.00225"));
    r.revenue_share.as_mut().unwrap().percent = s("60");
    r.revenue_share.as_mut().unwrap().carve_out_percent = Some(s("0.000"));
    r.minimum_guarantee.as_mut().unwrap().amount = s("8000000.0");
    assert_eq!(sheet(&other).hash(), sheet(&with_royalties()).hash());
    let mut monthly = with_royalties();
    monthly.royalties.as_mut().unwrap().accounting_period = s("monthly");
    assert_ne!(sheet(&monthly).hash(), sheet(&with_royalties()).hash());
    let changed: Vec<String> = sheet(&with_royalties())
        .diff(&sheet(&monthly))
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert_eq!(changed, vec![s("royalties")]);
}

#[test]
fn every_bad_royalty_term_is_named() {
    let mut i = with_royalties();
    i.minimum_guarantee = Some(s("1.00"));
    i.per_stream_rate = Some(s("0.1"));
    i.revenue_share_percent = Some(s("5"));
    let r = i.royalties.as_mut().unwrap();
    r.advance.as_mut().unwrap().amount = s("0");
    r.minimum_guarantee.as_mut().unwrap().amount = s("-5");
    r.minimum_guarantee.as_mut().unwrap().per = s("decade");
    r.revenue_share.as_mut().unwrap().percent = s("0");
    r.revenue_share.as_mut().unwrap().carve_out_percent = Some(s("100"));
    r.per_stream_floor = Some(s("0.00000000001"));
    r.per_subscriber_floor = Some(s("x"));
    r.combination = s("max");
    r.accounting_period = s("yearly");
    r.statement_due_days = 400;
    let mut got = fields(&i);
    got.sort();
    let mut expected = vec![
        s("minimum_guarantee"),
        s("per_stream_rate"),
        s("revenue_share_percent"),
        s("royalties.advance.amount"),
        s("royalties.minimum_guarantee.amount"),
        s("royalties.minimum_guarantee.per"),
        s("royalties.revenue_share.percent"),
        s("royalties.revenue_share.carve_out_percent"),
        s("royalties.per_stream_floor"),
        s("royalties.per_subscriber_floor"),
        s("royalties.combination"),
        s("royalties.accounting_period"),
        s("royalties.statement_due_days"),
    ];
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn installments_pay_the_fee_and_the_advance() {
    let mut i = with_royalties();
    i.royalties.as_mut().unwrap().advance = None;
    // 6,000,000 scheduled, but only the 1,000,000 fee is paid ahead now.
    let err = parse(&i).unwrap_err();
    let message = &err
        .0
        .iter()
        .find(|e| e.field == "installments")
        .unwrap()
        .message;
    assert!(
        message.contains("upfront_fee + royalties.advance.amount is 1000000.00 USD"),
        "{message}"
    );
}

#[test]
fn a_guarantee_needs_royalties_to_measure_against() {
    let mut i = with_royalties();
    let r = i.royalties.as_mut().unwrap();
    r.revenue_share = None;
    r.per_stream_floor = None;
    assert_eq!(fields(&i), vec![s("royalties")]);
    // A non-recoupable advance alone is a fee: fine without earnings.
    let r = i.royalties.as_mut().unwrap();
    r.minimum_guarantee = None;
    r.advance.as_mut().unwrap().recoupable = false;
    assert!(parse(&i).is_ok());
}

#[test]
fn royalty_terms_survive_storage() {
    let t = sheet(&with_royalties());
    let stored = serde_json::to_string(&t).unwrap();
    let back: TermSheetInput = serde_json::from_str(&stored).unwrap();
    assert_eq!(TermSheet::from_stored(&back).as_ref(), Ok(&t));
    // Revisions are stored as their canonical JSON, which writes the days as text.
    let canonical: TermSheetInput = serde_json::from_str(&t.canonical_json()).unwrap();
    assert_eq!(TermSheet::from_stored(&canonical), Ok(t));
}
