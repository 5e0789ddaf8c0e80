use super::*;
use crate::domain::terms::{InstallmentInput, TermSheetInput};
use proptest::prelude::*;

/// The two CN rules of docs/operations.md.
const CN_RULES: &str = r#"
# SAMR, 2021
[[rule]]
id = "cn-no-exclusive"
version = 1
territory = "CN"
kind = "no_exclusive"
effective_from = "2021-08-31"
description = "SAMR order of 2021-07-24: no exclusive music licences"

[[rule]]
id = "cn-prepayment-cap"
version = 1
territory = "CN"
kind = "prepayment_cap"
max_percent = "30"
effective_from = "2021-08-31"
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn rules(text: &str) -> MarketRules {
    match MarketRules::parse(text) {
        Ok(r) => r,
        Err(e) => panic!("refused: {e}"),
    }
}

fn problems(text: &str) -> Vec<RuleFileProblem> {
    match MarketRules::parse(text) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => e.0,
    }
}

/// `(rule number, field)` of each problem.
fn problem_fields(text: &str) -> Vec<(Option<usize>, Option<String>)> {
    problems(text)
        .into_iter()
        .map(|p| (p.rule, p.field))
        .collect()
}

/// One rule with the given extra lines.
fn one_rule(lines: &str) -> String {
    format!("[[rule]]\n{lines}\n")
}

const NO_EXCLUSIVE_CN: &str = r#"id = "cn-no-exclusive"
version = 1
territory = "CN"
kind = "no_exclusive"
effective_from = "2021-08-31""#;

/// A valid term sheet: CN, 2027–2029, non-exclusive, 1M upfront + 5M guarantee in two
/// installments after the start.
fn input() -> TermSheetInput {
    TermSheetInput {
        slice_id: "slice".into(),
        territories: vec!["CN".into()],
        usages: vec!["interactive_streaming".into()],
        start_date: "2027-01-01".into(),
        end_date: "2029-12-31".into(),
        exclusive: false,
        sublicensable: false,
        currency: "CNY".into(),
        upfront_fee: Some("1000000.00".into()),
        minimum_guarantee: Some("5000000.00".into()),
        per_stream_rate: None,
        revenue_share_percent: None,
        installments: vec![
            InstallmentInput {
                due_date: "2027-01-15".into(),
                amount: "3000000.00".into(),
            },
            InstallmentInput {
                due_date: "2027-07-15".into(),
                amount: "3000000.00".into(),
            },
        ],
        clauses: None,
        respond_by: None,
        tracks_hash: None,
        royalties: None,
    }
}

fn sheet(input: &TermSheetInput) -> TermSheet {
    match TermSheet::from_stored(input) {
        Ok(s) => s,
        Err(e) => panic!("{input:?} refused: {e:?}"),
    }
}

fn with(f: impl FnOnce(&mut TermSheetInput)) -> TermSheet {
    let mut i = input();
    f(&mut i);
    sheet(&i)
}

fn exclusive_in(territories: &[&str], start: &str, end: &str) -> TermSheet {
    with(|i| {
        i.exclusive = true;
        i.territories = territories.iter().map(|t| t.to_string()).collect();
        i.start_date = start.into();
        i.end_date = end.into();
        // Due at the end: no prepayment, so only exclusivity is at stake.
        i.installments[0].due_date = end.into();
        i.installments[1].due_date = end.into();
    })
}

fn installments(items: &[(&str, &str)]) -> Vec<InstallmentInput> {
    items
        .iter()
        .map(|(due, amount)| InstallmentInput {
            due_date: due.to_string(),
            amount: amount.to_string(),
        })
        .collect()
}

fn breached_ids(rules: &MarketRules, terms: &TermSheet) -> Vec<String> {
    match rules.check(terms) {
        Ok(()) => Vec::new(),
        Err(b) => b.0.into_iter().map(|b| b.rule_id).collect(),
    }
}

// ---- parsing -----------------------------------------------------------------------

#[test]
fn the_documented_cn_rules_parse() {
    let r = rules(CN_RULES);
    assert_eq!(r.len(), 2);
    // Sorted by id.
    let ids: Vec<&str> = r.rules().iter().map(MarketRule::id).collect();
    assert_eq!(ids, ["cn-no-exclusive", "cn-prepayment-cap"]);
    let no_excl = &r.rules()[0];
    assert_eq!(no_excl.version(), 1);
    assert_eq!(no_excl.territory().as_str(), "CN");
    assert_eq!(no_excl.kind(), RuleKind::NoExclusive);
    assert_eq!(no_excl.effective_from(), date("2021-08-31"));
    assert_eq!(no_excl.effective_until(), None);
    assert_eq!(
        no_excl.description(),
        Some("SAMR order of 2021-07-24: no exclusive music licences")
    );
    let cap = &r.rules()[1];
    assert_eq!(
        cap.constraint(),
        Constraint::PrepaymentCap {
            max_percent: dec("30")
        }
    );
    assert_eq!(cap.constraint().max_percent(), Some(dec("30")));
    assert_eq!(cap.description(), None);
    assert_eq!(r.version().len(), 64);
    assert!(r
        .version()
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[test]
fn an_empty_file_and_the_default_have_no_rules_and_the_same_version() {
    for text in ["", "\n# nothing yet\n", "rule = []"] {
        let r = rules(text);
        assert!(r.is_empty(), "{text:?}");
        assert_eq!(r.version(), MarketRules::none().version());
    }
    // SHA-256 of `[]`.
    assert_eq!(
        MarketRules::default().version(),
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
    assert_eq!(
        MarketRules::none().check(&with(|i| i.exclusive = true)),
        Ok(())
    );
}

#[test]
fn toml_dates_integers_and_lowercase_territories_are_accepted() {
    let r = rules(&one_rule(
        r#"id = "cn-cap"
version = 3
territory = "cn"
kind = "prepayment_cap"
max_percent = 30
effective_from = 2021-08-31
effective_until = 2031-12-31"#,
    ));
    let rule = &r.rules()[0];
    assert_eq!(rule.territory().as_str(), "CN");
    assert_eq!(rule.version(), 3);
    assert_eq!(rule.effective_until(), Some(date("2031-12-31")));
    assert_eq!(rule.constraint().max_percent(), Some(dec("30")));
}

#[test]
fn the_version_ignores_order_comments_and_spelling_but_not_content() {
    let a = rules(CN_RULES);
    // The same rules, the other way round, with other spellings of the same values.
    let b = rules(
        r#"
[[rule]]
kind = "prepayment_cap"
id = "cn-prepayment-cap"
territory = "cn"
max_percent = "30.00"
version = 1
effective_from = 2021-08-31

[[rule]]
id = "cn-no-exclusive"   # SAMR
version = 1
territory = "CN"
kind = "no_exclusive"
effective_from = "2021-08-31"
description = "  SAMR order of 2021-07-24: no exclusive music licences  "
"#,
    );
    assert_eq!(a.version(), b.version());
    assert_eq!(a, b);
    // Any change to what a rule says changes the version.
    let changes = [
        ("version = 1\nterritory = \"CN\"\nkind = \"no_exclusive\"", "version = 2\nterritory = \"CN\"\nkind = \"no_exclusive\""),
        ("max_percent = \"30\"", "max_percent = \"31\""),
        ("kind = \"prepayment_cap\"\nmax_percent = \"30\"\neffective_from = \"2021-08-31\"", "kind = \"prepayment_cap\"\nmax_percent = \"30\"\neffective_from = \"2021-09-01\""),
        ("no exclusive music licences", "no exclusive licences"),
        ("id = \"cn-no-exclusive\"", "id = \"cn-no-exclusivity\""),
        ("max_percent = \"30\"\neffective_from = \"2021-08-31\"", "max_percent = \"30\"\neffective_from = \"2021-08-31\"\neffective_until = \"2030-01-01\""),
    ];
    for (from, to) in changes {
        assert!(CN_RULES.contains(from), "{from}");
        let changed = rules(&CN_RULES.replacen(from, to, 1));
        assert_ne!(changed.version(), a.version(), "{to}");
    }
    let hk = rules(&CN_RULES.replace("\"CN\"", "\"HK\""));
    assert_ne!(hk.version(), a.version());
}

#[test]
fn invalid_toml_is_refused_with_its_line() {
    let p = problems("[[rule]]\nid = \"x\"\nversion = \n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].rule, None);
    assert!(
        p[0].message.contains("is not valid TOML"),
        "{}",
        p[0].message
    );
    assert!(p[0].message.starts_with("line 3"), "{}", p[0].message);
    // A key given twice is a TOML error.
    let p = problems(&one_rule(&format!("{NO_EXCLUSIVE_CN}\nversion = 2")));
    assert!(p[0].message.contains("TOML"), "{}", p[0].message);
}

#[test]
fn the_top_level_holds_rule_tables_only() {
    assert_eq!(
        problem_fields(&format!("rules = []\n{}", one_rule(NO_EXCLUSIVE_CN))),
        [(None, None)]
    );
    let p = problems("rule = \"cn\"");
    assert!(p[0].message.contains("[[rule]]"), "{}", p[0].message);
    let p = problems("rule = [1]");
    assert_eq!(p[0].rule, Some(1));
    assert!(p[0].message.contains("table"));
}

#[test]
fn every_missing_field_is_named() {
    let p = problem_fields("[[rule]]\n");
    assert_eq!(
        p,
        ["id", "version", "territory", "kind", "effective_from"]
            .map(|f| (Some(1), Some(f.to_string())))
    );
    // max_percent is required by prepayment_cap only.
    let text = one_rule(&NO_EXCLUSIVE_CN.replace("no_exclusive", "prepayment_cap"));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("max_percent".into()))]
    );
}

#[test]
fn problems_name_the_rule_by_position_and_id_and_the_field() {
    let text = format!(
        "{}{}",
        one_rule(NO_EXCLUSIVE_CN),
        one_rule(
            &NO_EXCLUSIVE_CN
                .replace("cn-no-exclusive", "jp-no-exclusive")
                .replace("no_exclusive\"", "no_exclusivity\"")
        )
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].rule, Some(2));
    assert_eq!(p[0].id.as_deref(), Some("jp-no-exclusive"));
    assert_eq!(p[0].field.as_deref(), Some("kind"));
    assert_eq!(
        p[0].to_string(),
        "rule 2 (`jp-no-exclusive`), `kind`: unknown rule kind `no_exclusivity`: expected no_exclusive or prepayment_cap"
    );
    let all = MarketRules::parse(&text).unwrap_err().to_string();
    assert!(all.starts_with("rule 2 (`jp-no-exclusive`)"), "{all}");
}

#[test]
fn several_problems_are_all_reported() {
    let text = one_rule(
        r#"id = "CN rule"
version = 0
territory = "UK"
kind = "no_exclusive"
effective_from = "2021-02-30"
effective_untill = "2022-01-01""#,
    );
    let fields: Vec<String> = problems(&text)
        .into_iter()
        .filter_map(|p| p.field)
        .collect();
    let mut sorted = fields.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "effective_from",
            "effective_untill",
            "id",
            "territory",
            "version"
        ]
    );
    let message = MarketRules::parse(&text).unwrap_err().to_string();
    assert!(message.starts_with("5 problems:\n  - rule 1"), "{message}");
    assert!(message.contains("use `GB`"), "{message}");
    assert!(message.contains("2021-02-30"), "{message}");
}

#[test]
fn ids_are_lowercase_letters_digits_and_dashes_and_unique() {
    for bad in [
        "\"\"",
        "\"CN-rule\"",
        "\"cn_rule\"",
        "\"cn rule\"",
        "\"cn.rule\"",
        "\"规则\"",
        "1",
    ] {
        let text = one_rule(&NO_EXCLUSIVE_CN.replace("\"cn-no-exclusive\"", bad));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("id".into()))],
            "{bad}"
        );
    }
    let long = format!("\"{}\"", "a".repeat(MAX_ID_CHARS + 1));
    let text = one_rule(&NO_EXCLUSIVE_CN.replace("\"cn-no-exclusive\"", &long));
    assert_eq!(problem_fields(&text), [(Some(1), Some("id".into()))]);
    let ok = format!("\"{}\"", "a".repeat(MAX_ID_CHARS));
    rules(&one_rule(
        &NO_EXCLUSIVE_CN.replace("\"cn-no-exclusive\"", &ok),
    ));
    rules(&one_rule(
        &NO_EXCLUSIVE_CN.replace("cn-no-exclusive", "2021-samr-1"),
    ));

    let twice = format!("{}{}", one_rule(NO_EXCLUSIVE_CN), one_rule(NO_EXCLUSIVE_CN));
    let p = problems(&twice);
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].rule, p[0].field.as_deref()), (Some(2), Some("id")));
    assert!(p[0].message.contains("rule 1"), "{}", p[0].message);
}

#[test]
fn versions_are_whole_numbers_from_one() {
    for bad in ["0", "-1", "4294967296", "\"1\"", "1.0"] {
        let text = one_rule(&NO_EXCLUSIVE_CN.replace("version = 1", &format!("version = {bad}")));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("version".into()))],
            "{bad}"
        );
    }
    let max = one_rule(&NO_EXCLUSIVE_CN.replace("version = 1", "version = 4294967295"));
    assert_eq!(rules(&max).rules()[0].version(), u32::MAX);
}

#[test]
fn territories_are_one_iso_code() {
    for bad in [
        "\"XK\"",
        "\"UK\"",
        "\"worldwide\"",
        "\"CN,HK\"",
        "[\"CN\"]",
        "\"\"",
    ] {
        let text = one_rule(&NO_EXCLUSIVE_CN.replace("\"CN\"", bad));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("territory".into()))],
            "{bad}"
        );
    }
    let p = problems(&one_rule(
        &NO_EXCLUSIVE_CN.replace("\"CN\"", "\"worldwide\""),
    ));
    assert!(p[0].message.contains("whole world"), "{}", p[0].message);
}

#[test]
fn dates_are_calendar_days_without_time() {
    for bad in [
        "\"2021-8-31\"",
        "\"31/08/2021\"",
        "\"2021-02-29\"",
        "\"2021-08-31T00:00:00Z\"",
        "2021-08-31T00:00:00Z",
        "2021-08-31T10:00:00",
        "10:00:00",
        "20210831",
        "\"\"",
    ] {
        let text = one_rule(&NO_EXCLUSIVE_CN.replace("\"2021-08-31\"", bad));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("effective_from".into()))],
            "{bad}"
        );
        let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\neffective_until = {bad}"));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("effective_until".into()))],
            "{bad}"
        );
    }
    rules(&one_rule(
        &NO_EXCLUSIVE_CN.replace("\"2021-08-31\"", "\"2024-02-29\""),
    ));
}

#[test]
fn effective_until_may_equal_but_not_precede_effective_from() {
    rules(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\neffective_until = \"2021-08-31\""
    )));
    let p = problems(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\neffective_until = \"2021-08-30\""
    )));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].field.as_deref(), Some("effective_until"));
    assert!(p[0].message.contains("2021-08-31"));
}

#[test]
fn max_percent_is_a_decimal_from_0_to_100_never_a_float() {
    let cap = |value: &str| {
        one_rule(&format!(
            "{}\nmax_percent = {value}",
            NO_EXCLUSIVE_CN.replace("no_exclusive", "prepayment_cap")
        ))
    };
    for (ok, expected) in [
        ("\"0\"", "0"),
        ("\"100\"", "100"),
        ("\"12.5\"", "12.5"),
        ("\"33.3333\"", "33.3333"),
        ("\"30.00\"", "30"),
        ("0", "0"),
        ("100", "100"),
    ] {
        let r = rules(&cap(ok));
        assert_eq!(
            r.rules()[0].constraint().max_percent(),
            Some(dec(expected)),
            "{ok}"
        );
    }
    for bad in [
        "30.0",
        "\"100.01\"",
        "101",
        "-1",
        "\"-1\"",
        "\"30%\"",
        "\"3e1\"",
        "\"33.33333\"",
        "\"\"",
        "\" 30\"",
        "true",
        "\"thirty\"",
    ] {
        assert_eq!(
            problem_fields(&cap(bad)),
            [(Some(1), Some("max_percent".into()))],
            "{bad}"
        );
    }
    let p = problems(&cap("30.0"));
    assert!(p[0].message.contains("float"), "{}", p[0].message);
    // Irrelevant to no_exclusive: refused rather than ignored.
    let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\nmax_percent = \"30\""));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("max_percent".into()))]
    );
}

#[test]
fn unknown_keys_and_kinds_are_refused() {
    let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\nexclusive_allowed = true"));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("exclusive_allowed".into()))]
    );
    for kind in ["\"No_Exclusive\"", "\"exclusive\"", "\"\"", "1"] {
        let text = one_rule(&NO_EXCLUSIVE_CN.replace("\"no_exclusive\"", kind));
        assert_eq!(
            problem_fields(&text),
            [(Some(1), Some("kind".into()))],
            "{kind}"
        );
    }
}

#[test]
fn descriptions_are_bounded_text() {
    let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
    let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\ndescription = \"{long}\""));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("description".into()))]
    );
    let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\ndescription = \"a\\u0000b\""));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("description".into()))]
    );
    let text = one_rule(&format!("{NO_EXCLUSIVE_CN}\ndescription = 3"));
    assert_eq!(
        problem_fields(&text),
        [(Some(1), Some("description".into()))]
    );
    let blank = rules(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\ndescription = \"   \""
    )));
    assert_eq!(blank.rules()[0].description(), None);
    let multi = rules(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\ndescription = \"\"\"\nline one\n\tline two\n\"\"\""
    )));
    assert_eq!(multi.rules()[0].description(), Some("line one\n\tline two"));
}

#[test]
fn too_many_rules_are_refused() {
    let mut text = String::new();
    for i in 0..=MAX_RULES {
        text.push_str(&one_rule(
            &NO_EXCLUSIVE_CN.replace("cn-no-exclusive", &format!("r{i}")),
        ));
    }
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("at most 1000"), "{}", p[0].message);
}

// ---- checking ----------------------------------------------------------------------

#[test]
fn an_exclusive_cn_sheet_breaks_the_no_exclusive_rule_only() {
    let r = rules(CN_RULES);
    let terms = with(|i| i.exclusive = true);
    let breaches = r.check(&terms).unwrap_err();
    assert_eq!(breaches.0.len(), 1);
    let b = &breaches.0[0];
    assert_eq!(b.rule_id, "cn-no-exclusive");
    assert_eq!(b.version, 1);
    assert_eq!(b.territory.as_str(), "CN");
    assert_eq!(b.kind, RuleKind::NoExclusive);
    assert_eq!(b.field, BreachField::Exclusive);
    assert_eq!(
        b.message,
        "market rule cn-no-exclusive v1 forbids exclusive grants in CN from 2021-08-31"
    );
    let errors = breaches.field_errors("terms");
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].field, "terms.exclusive");
    assert_eq!(errors.0[0].message, b.message);
    assert_eq!(breaches.to_string(), b.message);
}

#[test]
fn non_exclusive_cn_and_exclusive_elsewhere_pass() {
    let r = rules(CN_RULES);
    assert_eq!(r.check(&sheet(&input())), Ok(()));
    assert_eq!(
        r.check(&exclusive_in(&["JP"], "2027-01-01", "2029-12-31")),
        Ok(())
    );
    assert_eq!(
        r.check(&exclusive_in(
            &["HK", "MO", "TW"],
            "2027-01-01",
            "2029-12-31"
        )),
        Ok(())
    );
}

#[test]
fn a_sheet_naming_the_territory_among_others_or_worldwide_is_caught() {
    let r = rules(CN_RULES);
    for territories in [&["CN", "HK"][..], &["JP", "cn"], &["worldwide"]] {
        let terms = exclusive_in(territories, "2027-01-01", "2029-12-31");
        assert_eq!(
            breached_ids(&r, &terms),
            ["cn-no-exclusive"],
            "{territories:?}"
        );
    }
}

#[test]
fn the_window_is_inclusive_at_both_ends() {
    let r = rules(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\neffective_until = \"2025-12-31\""
    )));
    let cases = [
        // (start, end, caught)
        ("2020-01-01", "2021-08-30", false), // ends the day before the rule
        ("2020-01-01", "2021-08-31", true),  // ends on its first day
        ("2021-08-31", "2021-08-31", true),  // one day, the first
        ("2025-12-31", "2026-12-31", true),  // starts on its last day
        ("2026-01-01", "2026-12-31", false), // starts the day after
        ("2019-01-01", "2030-12-31", true),  // spans it
        ("2023-01-01", "2023-12-31", true),  // inside it
    ];
    for (start, end, caught) in cases {
        let terms = exclusive_in(&["CN"], start, end);
        assert_eq!(r.check(&terms).is_err(), caught, "{start}..={end}");
        assert_eq!(r.rules()[0].applies_to(&terms), caught, "{start}..={end}");
    }
    // Without effective_until the rule applies for ever after.
    let open = rules(&one_rule(NO_EXCLUSIVE_CN));
    assert!(open
        .check(&exclusive_in(&["CN"], "2090-01-01", "2099-12-31"))
        .is_err());
    assert!(open
        .check(&exclusive_in(&["CN"], "2020-01-01", "2021-08-30"))
        .is_ok());
}

#[test]
fn an_until_rule_names_its_window() {
    let r = rules(&one_rule(&format!(
        "{NO_EXCLUSIVE_CN}\neffective_until = \"2025-12-31\""
    )));
    let b = r
        .check(&exclusive_in(&["CN"], "2024-01-01", "2024-12-31"))
        .unwrap_err();
    assert_eq!(
        b.0[0].message,
        "market rule cn-no-exclusive v1 forbids exclusive grants in CN from 2021-08-31 to 2025-12-31"
    );
}

#[test]
fn the_prepayment_cap_counts_what_is_due_on_or_before_the_start() {
    let r = rules(CN_RULES);
    // 6,000,000 scheduled; the cap is 30 % = 1,800,000.
    let cases: [(&[(&str, &str)], bool); 8] = [
        // Nothing due by the start.
        (
            &[("2027-01-15", "3000000.00"), ("2027-07-15", "3000000.00")],
            true,
        ),
        // Exactly 30 % due on the start date: the cap is inclusive.
        (
            &[("2027-01-01", "1800000.00"), ("2027-07-15", "4200000.00")],
            true,
        ),
        // One cent more.
        (
            &[("2027-01-01", "1800000.01"), ("2027-07-15", "4199999.99")],
            false,
        ),
        // Due before the start counts too.
        (
            &[
                ("2026-12-01", "1000000.00"),
                ("2027-01-01", "800000.00"),
                ("2027-02-01", "4200000.00"),
            ],
            true,
        ),
        (
            &[
                ("2026-12-01", "1000000.00"),
                ("2027-01-01", "800000.01"),
                ("2027-02-01", "4199999.99"),
            ],
            false,
        ),
        // The day after the start does not count.
        (&[("2027-01-02", "6000000.00")], true),
        // Everything up front.
        (&[("2026-12-31", "6000000.00")], false),
        (
            &[("2027-01-01", "3000000.00"), ("2027-07-15", "3000000.00")],
            false,
        ),
    ];
    for (schedule, passes) in cases {
        let terms = with(|i| i.installments = installments(schedule));
        assert_eq!(r.check(&terms).is_ok(), passes, "{schedule:?}");
    }
}

#[test]
fn a_prepayment_breach_names_the_rule_the_amounts_and_the_field() {
    let r = rules(CN_RULES);
    let terms = with(|i| {
        i.installments = installments(&[("2026-12-31", "3000000.00"), ("2027-07-15", "3000000.00")])
    });
    let b = r.check(&terms).unwrap_err();
    assert_eq!(b.0.len(), 1);
    assert_eq!(b.0[0].rule_id, "cn-prepayment-cap");
    assert_eq!(b.0[0].kind, RuleKind::PrepaymentCap);
    assert_eq!(b.0[0].field, BreachField::Installments);
    assert_eq!(
        b.0[0].message,
        "market rule cn-prepayment-cap v1 caps what falls due on or before the start date at 30% \
         of upfront fee + minimum guarantee in CN from 2021-08-31: 3000000.00 of 6000000.00 CNY \
         falls due by 2027-01-01 (50%)"
    );
    assert_eq!(b.field_errors("terms").0[0].field, "terms.installments");
}

#[test]
fn both_rules_can_be_broken_at_once() {
    let r = rules(CN_RULES);
    let terms = with(|i| {
        i.exclusive = true;
        i.installments = installments(&[("2027-01-01", "6000000.00")]);
    });
    assert_eq!(
        breached_ids(&r, &terms),
        ["cn-no-exclusive", "cn-prepayment-cap"]
    );
    let fields: Vec<String> = r
        .check(&terms)
        .unwrap_err()
        .field_errors("terms")
        .0
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["terms.exclusive", "terms.installments"]);
}

#[test]
fn nothing_scheduled_never_breaks_a_prepayment_cap() {
    let r = rules(&CN_RULES.replace("max_percent = \"30\"", "max_percent = \"0\""));
    let royalties_only = with(|i| {
        i.upfront_fee = None;
        i.minimum_guarantee = None;
        i.per_stream_rate = Some("0.004".into());
        i.installments = Vec::new();
    });
    assert_eq!(r.check(&royalties_only), Ok(()));
    // A 0 % cap refuses any prepayment at all, and allows none.
    assert!(r.check(&sheet(&input())).is_ok());
    let one_cent_early = with(|i| {
        i.installments = installments(&[("2027-01-01", "0.01"), ("2027-07-15", "5999999.99")])
    });
    assert!(r.check(&one_cent_early).is_err());
}

#[test]
fn a_cap_outside_its_territory_or_window_is_silent() {
    let r = rules(CN_RULES);
    let everything_up_front = |territories: &[&str], start: &str, end: &str| {
        with(|i| {
            i.territories = territories.iter().map(|t| t.to_string()).collect();
            i.start_date = start.into();
            i.end_date = end.into();
            i.installments = installments(&[(start, "6000000.00")]);
        })
    };
    assert!(r
        .check(&everything_up_front(&["JP"], "2027-01-01", "2029-12-31"))
        .is_ok());
    assert!(r
        .check(&everything_up_front(&["CN"], "2020-01-01", "2021-08-30"))
        .is_ok());
    assert!(r
        .check(&everything_up_front(&["CN"], "2020-01-01", "2021-08-31"))
        .is_err());
    assert!(r
        .check(&everything_up_front(
            &["worldwide"],
            "2027-01-01",
            "2029-12-31"
        ))
        .is_err());
}

#[test]
fn percent_display_and_exact_comparison() {
    let p = Prepayment {
        prepaid: dec("1"),
        total: dec("3"),
    };
    assert_eq!(p.percent(), Some(dec("33.33")));
    // 1/3 = 33.333…%: over 33.3333, under 33.3334, decided exactly.
    assert!(!p.within(dec("33.3333")));
    assert!(p.within(dec("33.3334")));
    assert!(Prepayment {
        prepaid: dec("0"),
        total: dec("0")
    }
    .within(dec("0")));
    assert_eq!(
        Prepayment {
            prepaid: dec("0"),
            total: dec("0")
        }
        .percent(),
        None
    );
    // A product beyond a decimal's range counts as a breach, never a pass.
    assert!(!Prepayment {
        prepaid: Decimal::MAX,
        total: Decimal::MAX
    }
    .within(dec("100")));
}

#[test]
fn several_rules_for_one_territory_each_speak() {
    let text = format!(
        "{}{}{}",
        one_rule(NO_EXCLUSIVE_CN),
        one_rule(
            &NO_EXCLUSIVE_CN
                .replace("cn-no-exclusive", "cn-no-exclusive-2030")
                .replace("2021-08-31", "2030-01-01")
        ),
        one_rule(
            &NO_EXCLUSIVE_CN
                .replace("cn-no-exclusive", "hk-no-exclusive")
                .replace("\"CN\"", "\"HK\"")
        )
    );
    let r = rules(&text);
    let terms = exclusive_in(&["CN", "HK"], "2029-01-01", "2030-12-31");
    assert_eq!(
        breached_ids(&r, &terms),
        ["cn-no-exclusive", "cn-no-exclusive-2030", "hk-no-exclusive"]
    );
    let terms = exclusive_in(&["CN"], "2027-01-01", "2029-12-31");
    assert_eq!(breached_ids(&r, &terms), ["cn-no-exclusive"]);
}

#[test]
fn kinds_have_their_wire_names() {
    assert_eq!(
        RuleKind::ALL.map(RuleKind::as_str),
        ["no_exclusive", "prepayment_cap"]
    );
    assert_eq!(
        serde_json::to_string(&RuleKind::PrepaymentCap).unwrap(),
        "\"prepayment_cap\""
    );
    assert_eq!(
        serde_json::to_string(&BreachField::Installments).unwrap(),
        "\"installments\""
    );
    for field in [BreachField::Exclusive, BreachField::Installments] {
        assert_eq!(
            serde_json::to_value(field).unwrap(),
            serde_json::json!(field.as_str())
        );
    }
}

// ---- properties --------------------------------------------------------------------

fn day(offset: i64) -> NaiveDate {
    date("2025-01-01") + chrono::TimeDelta::days(offset)
}

/// A rule as generated: written to TOML by [`render`] with the id `r<index>`.
#[derive(Debug, Clone)]
struct Spec {
    territory: &'static str,
    /// `Some(max_percent)`: a prepayment cap; `None`: no_exclusive.
    cap: Option<u32>,
    from: NaiveDate,
    until: Option<NaiveDate>,
    version: u32,
}

fn spec(cap: Option<u32>) -> Spec {
    Spec {
        territory: "CN",
        cap,
        from: day(0),
        until: None,
        version: 1,
    }
}

prop_compose! {
    /// A rule on a small calendar, so windows and terms overlap often.
    fn arb_rule()(
        territory in prop::sample::select(vec!["CN", "HK", "JP"]),
        cap in prop::option::of(0u32..=100),
        from in 0i64..20,
        length in prop::option::of(0i64..20),
        version in 1u32..5,
    ) -> Spec {
        Spec { territory, cap, from: day(from), until: length.map(|l| day(from + l)), version }
    }
}

fn render(rules: &[Spec]) -> String {
    let mut text = String::new();
    for (i, rule) in rules.iter().enumerate() {
        let Spec {
            territory,
            cap,
            from,
            until,
            version,
        } = rule;
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\nversion = {version}\nterritory = \"{territory}\"\n"
        ));
        match cap {
            Some(c) => text.push_str(&format!(
                "kind = \"prepayment_cap\"\nmax_percent = \"{c}\"\n"
            )),
            None => text.push_str("kind = \"no_exclusive\"\n"),
        }
        text.push_str(&format!("effective_from = \"{from}\"\n"));
        if let Some(until) = until {
            text.push_str(&format!("effective_until = {until}\n"));
        }
    }
    text
}

prop_compose! {
    fn arb_sheet()(
        territories in prop::sample::subsequence(vec!["CN", "HK", "JP", "US"], 0..=3),
        start in 0i64..30,
        length in 0i64..15,
        exclusive in any::<bool>(),
        first in 1u64..1_000,
        second in 1u64..1_000,
        first_due in -5i64..20,
    ) -> TermSheet {
        let start_day = day(start);
        let end_day = day(start + length);
        let first_due = day(start + first_due.min(length));
        let second_due = end_day.max(first_due);
        with(|i| {
            i.territories = if territories.is_empty() {
                vec!["worldwide".into()]
            } else {
                territories.iter().map(|t| t.to_string()).collect()
            };
            i.start_date = start_day.to_string();
            i.end_date = end_day.to_string();
            i.exclusive = exclusive;
            i.upfront_fee = Some(format!("{first}.00"));
            i.minimum_guarantee = Some(format!("{second}.00"));
            i.installments = vec![
                InstallmentInput { due_date: first_due.to_string(), amount: format!("{first}.00") },
                InstallmentInput { due_date: second_due.to_string(), amount: format!("{second}.00") },
            ];
        })
    }
}

proptest! {
    /// `check` agrees with a day-by-day reading of the rules.
    #[test]
    fn check_matches_a_day_by_day_oracle(
        specs in prop::collection::vec(arb_rule(), 0..5),
        terms in arb_sheet(),
    ) {
        let r = rules(&render(&specs));
        let got = breached_ids(&r, &terms);
        let mut expected = Vec::new();
        for (i, Spec { territory, cap, from, until, .. }) in specs.iter().enumerate() {
            let territory = Territory::parse(territory).unwrap();
            let period = terms.period();
            let mut shares_a_day = false;
            let mut d = period.start;
            while d <= period.end {
                if d >= *from && until.is_none_or(|u| d <= u) {
                    shares_a_day = true;
                }
                d = d.succ_opt().unwrap();
            }
            if !(terms.territories().contains(territory) && shares_a_day) {
                continue;
            }
            let broken = match cap {
                None => terms.exclusive(),
                Some(cap) => {
                    let prepaid: Decimal = terms
                        .installments()
                        .iter()
                        .filter(|i| i.due_date <= period.start)
                        .map(|i| i.amount)
                        .sum();
                    // Cross-multiplied differently from the implementation on purpose.
                    !prepaid.is_zero()
                        && prepaid / terms.scheduled_total() > Decimal::from(*cap) / Decimal::ONE_HUNDRED
                }
            };
            if broken {
                expected.push(format!("r{i}"));
            }
        }
        expected.sort();
        prop_assert_eq!(got, expected);
    }

    /// Every breach names a rule of the set, its version and territory, a field that
    /// fits its kind, and a message quoting the id and version.
    #[test]
    fn breaches_describe_their_rule(
        specs in prop::collection::vec(arb_rule(), 0..5),
        terms in arb_sheet(),
    ) {
        let r = rules(&render(&specs));
        if let Err(breaches) = r.check(&terms) {
            prop_assert!(!breaches.0.is_empty());
            for b in &breaches.0 {
                let rule = r.rules().iter().find(|x| x.id() == b.rule_id).unwrap();
                prop_assert_eq!(b.version, rule.version());
                prop_assert_eq!(b.territory, rule.territory());
                prop_assert_eq!(b.kind, rule.kind());
                let expected_field = match b.kind {
                    RuleKind::NoExclusive => BreachField::Exclusive,
                    RuleKind::PrepaymentCap => BreachField::Installments,
                };
                prop_assert_eq!(b.field, expected_field);
                let needle = format!("market rule {} v{} ", rule.id(), rule.version());
                prop_assert!(b.message.starts_with(&needle));
                prop_assert!(b.message.contains(rule.territory().as_str()));
            }
        }
    }

    /// Raising a cap never creates a breach; 100 % never breaches; a non-exclusive
    /// sheet never breaks a no_exclusive rule.
    #[test]
    fn rules_are_monotonic(terms in arb_sheet(), low in 0u32..=100, high in 0u32..=100) {
        let (low, high) = (low.min(high), low.max(high));
        let cap = |c: u32| rules(&render(&[spec(Some(c))]));
        if cap(low).check(&terms).is_ok() {
            prop_assert!(cap(high).check(&terms).is_ok());
        }
        prop_assert!(cap(100).check(&terms).is_ok());
        let no_excl = rules(&render(&[spec(None)]));
        if !terms.exclusive() {
            prop_assert!(no_excl.check(&terms).is_ok());
        }
    }

    /// The version does not depend on the order of the tables in the file.
    #[test]
    fn the_version_is_order_independent(specs in prop::collection::vec(arb_rule(), 1..6), rotate in 0usize..6) {
        let text = render(&specs);
        let tables: Vec<String> = text.split("[[rule]]").filter(|t| !t.is_empty()).map(|t| format!("[[rule]]{t}")).collect();
        let mut rotated = tables.clone();
        let n = rotated.len();
        rotated.rotate_left(rotate % n);
        let (a, b) = (rules(&text), rules(&rotated.concat()));
        prop_assert_eq!(a.version(), b.version());
        prop_assert_eq!(a, b);
    }

    /// Parsing never panics, whatever the text.
    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = MarketRules::parse(&text);
    }

    /// Nor on text shaped like a rule with arbitrary values.
    #[test]
    fn parse_never_panics_on_rule_shaped_text(
        id in "\\PC{0,10}", version in "\\PC{0,6}", territory in "\\PC{0,4}",
        kind in "\\PC{0,15}", percent in "\\PC{0,8}", from in "\\PC{0,12}",
    ) {
        let text = format!(
            "[[rule]]\nid = {id:?}\nversion = {version}\nterritory = {territory:?}\nkind = {kind:?}\nmax_percent = {percent:?}\neffective_from = {from:?}\n"
        );
        let _ = MarketRules::parse(&text);
    }
}
