//! The term sheet of a deal revision: parsed once from what the client sends
//! ([`TermSheetInput`]) into a [`TermSheet`] that is valid by construction, with
//! one canonical JSON form whose SHA-256 is the hash parties sign.
//!
//! # Canonical form
//!
//! [`TermSheet::canonical_json`] is a single line of JSON built from the parsed
//! (normalized) terms, so two spellings of the same terms give the same text:
//!
//! - Keys sorted by byte order at every level, no whitespace outside strings.
//!   Top level has exactly these 15 keys: `clauses`, `currency`, `end_date`,
//!   `exclusive`, `installments`, `minimum_guarantee`, `per_stream_rate`,
//!   `respond_by`, `revenue_share_percent`, `slice_id`, `start_date`,
//!   `sublicensable`, `territories`, `upfront_fee`, `usages`; each installment
//!   has `amount` and `due_date`.
//! - Absent optionals are `null` (never omitted): `upfront_fee`,
//!   `minimum_guarantee`, `per_stream_rate`, `revenue_share_percent`,
//!   `clauses` (blank clauses count as absent), `respond_by`.
//!   An explicit `"0"` fee is kept as a zero amount, distinct from `null`.
//! - No JSON numbers: money and rates are strings, flags are `true`/`false`.
//!   Strings are escaped as serde_json writes them (only `"`, `\` and control
//!   characters; non-ASCII stays UTF-8), which for a number-free document is
//!   also what RFC 8785 (JCS) produces.
//! - Dates `YYYY-MM-DD`. `respond_by` is UTC `YYYY-MM-DDTHH:MM:SSZ`: converted
//!   from any offset, fractional seconds dropped when parsed.
//! - `currency` is the uppercase ISO 4217 code. `upfront_fee`,
//!   `minimum_guarantee` and installment amounts have exactly the currency's
//!   minor units (`"1000000.00"` for CNY, `"1000000"` for JPY).
//! - `per_stream_rate` and `revenue_share_percent` are normalized: no trailing
//!   zeros and no trailing point, one `0` before a leading point
//!   (`"0.0045"`, `"12.5"`, `"20"`, `"0"`).
//! - `territories`: sorted uppercase ISO 3166-1 codes, duplicates removed, or
//!   `["worldwide"]`. `usages`: sorted by name, duplicates removed (by name, not
//!   by enum declaration order, so reordering the enum can never change a hash).
//! - `installments` in the order given (validated non-decreasing by due date,
//!   so the order only matters between equal due dates, and then it is kept).
//! - `slice_id` and `clauses` exactly as sent, byte for byte (no trimming, no
//!   line-ending changes): they are what the parties read.
//!
//! [`TermSheet::hash`] is the lowercase hex SHA-256 of the canonical JSON's
//! UTF-8 bytes. The canonical form must never change: a test pins the hash of
//! the spec's example term sheet.
//!
//! # Validation rules
//!
//! Every problem is collected, with field names relative to the terms object
//! (`installments[1].amount`; the caller nests them under `terms`):
//!
//! - `slice_id` non-empty, at most 200 characters, no control characters.
//! - `territories`, `usages`: valid, non-empty (see `territory` and `usage`);
//!   each entry held by the catalog (`territories[i]`, `usages[i]`).
//! - `start_date <= end_date` (both inclusive), both within the catalog's
//!   holding period.
//! - `sublicensable: true` needs a sublicensable holding.
//! - `currency` an active ISO 4217 code; `upfront_fee`, `minimum_guarantee`
//!   and installment amounts non-negative with at most the currency's minor
//!   units; `per_stream_rate` up to 10 decimals; `revenue_share_percent`
//!   between 0 and 100 with up to 4 decimals.
//! - Fee model (field `fee_model`): at least one of upfront fee, minimum
//!   guarantee, per-stream rate and revenue share present and greater than 0.
//! - Installments (at most 360): each amount greater than 0; each due date not
//!   after `end_date` (it may precede `start_date`: an upfront fee is typically
//!   due on signature) and not before the previous installment's; amounts add
//!   up exactly to `upfront_fee + minimum_guarantee` (field `installments`),
//!   so installments are required when that sum is above zero and must be
//!   empty when it is zero. No rounding happens here: every amount is typed
//!   by a party and must already be payable.
//! - `respond_by` (optional: without it the revision never expires) a valid
//!   RFC 3339 instant in the future.
//! - `clauses` at most 20,000 characters, no control characters other than
//!   tab, line feed and carriage return (PostgreSQL text cannot hold NUL).
//! - Unknown fields are refused when deserializing, so a misspelt fee can
//!   never be silently dropped from a contract.

use crate::domain::money::{parse_non_negative_decimal, Currency, DecimalInputError};
use crate::domain::period::Period;
use crate::domain::territory::{Territories, Territory, WORLDWIDE};
use crate::domain::usage::{Usage, Usages};
use crate::domain::validation::ValidationErrors;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest accepted `clauses` text, in characters.
pub const MAX_CLAUSES_CHARS: usize = 20_000;
/// Most installments in one schedule (monthly over 30 years).
pub const MAX_INSTALLMENTS: usize = 360;
/// Longest accepted `slice_id`, in characters (ids are opaque but bounded).
pub const MAX_SLICE_ID_CHARS: usize = 200;
/// Decimals allowed in `revenue_share_percent` (12.3456 %).
pub const PERCENT_MAX_DECIMALS: u32 = 4;

/// The terms as the client sends them: strings for dates and money, so that
/// every problem can be reported with its field rather than as a JSON error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermSheetInput {
    /// The slice of the licensor's catalog being licensed.
    pub slice_id: String,
    /// ISO 3166-1 alpha-2 codes, or `["worldwide"]`.
    #[schema(value_type = crate::domain::territory::Territories)]
    pub territories: Vec<String>,
    #[schema(value_type = crate::domain::usage::Usages)]
    pub usages: Vec<String>,
    /// First day of the term, inclusive.
    #[schema(format = Date, example = "2027-01-01")]
    pub start_date: String,
    /// Last day of the term, inclusive.
    #[schema(format = Date, example = "2029-12-31")]
    pub end_date: String,
    pub exclusive: bool,
    /// Whether the licensee may sublicense further.
    pub sublicensable: bool,
    #[schema(value_type = crate::domain::money::Currency)]
    pub currency: String,
    /// Decimal string, at most the currency's minor units.
    #[schema(example = "1000000.00")]
    pub upfront_fee: Option<String>,
    /// Recoupable against royalties; decimal string.
    #[schema(example = "5000000.00")]
    pub minimum_guarantee: Option<String>,
    /// Per stream, up to 10 decimals.
    #[schema(example = "0.0045")]
    pub per_stream_rate: Option<String>,
    /// 0 to 100, up to 4 decimals.
    #[schema(example = json!(null))]
    pub revenue_share_percent: Option<String>,
    /// Must add up to `upfront_fee + minimum_guarantee`.
    #[serde(default)]
    pub installments: Vec<InstallmentInput>,
    /// Free text, at most 20,000 characters.
    pub clauses: Option<String>,
    /// RFC 3339 instant by which the other party must answer.
    #[schema(format = DateTime, example = "2026-12-31T00:00:00Z")]
    pub respond_by: Option<String>,
}

/// One installment as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallmentInput {
    #[schema(format = Date, example = "2027-01-15")]
    pub due_date: String,
    #[schema(example = "3000000.00")]
    pub amount: String,
}

/// What the licensor holds in the catalog the slice comes from; terms must fit in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermsContext {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    pub sublicensable: bool,
}

/// One payment due, in the term sheet's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installment {
    pub due_date: NaiveDate,
    /// Exactly the currency's minor units, greater than 0.
    pub amount: Decimal,
}

/// Valid terms of one revision. Only [`TermSheet::parse`] and
/// [`TermSheet::from_stored`] build one; serializes to the [`TermSheetInput`]
/// shape in canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSheet {
    slice_id: String,
    territories: Territories,
    usages: Usages,
    period: Period,
    exclusive: bool,
    sublicensable: bool,
    currency: Currency,
    upfront_fee: Option<Decimal>,
    minimum_guarantee: Option<Decimal>,
    per_stream_rate: Option<Decimal>,
    revenue_share_percent: Option<Decimal>,
    installments: Vec<Installment>,
    clauses: Option<String>,
    respond_by: Option<DateTime<Utc>>,
}

/// One term that differs between two revisions, as canonical JSON values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TermChange {
    /// The term's key in the term sheet (`upfront_fee`, `installments`, …).
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// The term keys in the order the spec lists them, which is the order of a diff.
pub const TERM_FIELDS: [&str; 15] = [
    "slice_id",
    "territories",
    "usages",
    "start_date",
    "end_date",
    "exclusive",
    "sublicensable",
    "currency",
    "upfront_fee",
    "minimum_guarantee",
    "per_stream_rate",
    "revenue_share_percent",
    "installments",
    "clauses",
    "respond_by",
];

impl TermSheet {
    /// Parses terms proposed now: every rule, including the catalog's
    /// holding and `respond_by` being after `now`.
    pub fn parse(
        input: &TermSheetInput,
        ctx: &TermsContext,
        now: DateTime<Utc>,
    ) -> Result<TermSheet, ValidationErrors> {
        parse_terms(input, Some((ctx, now)))
    }

    /// Rebuilds a revision that was validated when it was proposed (e.g. read
    /// back from storage): every rule except those that depend on the moment
    /// (the holding may have changed since, `respond_by` may have passed).
    pub fn from_stored(input: &TermSheetInput) -> Result<TermSheet, ValidationErrors> {
        parse_terms(input, None)
    }

    pub fn slice_id(&self) -> &str {
        &self.slice_id
    }

    pub fn territories(&self) -> &Territories {
        &self.territories
    }

    pub fn usages(&self) -> &Usages {
        &self.usages
    }

    /// `start_date..=end_date`.
    pub fn period(&self) -> Period {
        self.period
    }

    pub fn exclusive(&self) -> bool {
        self.exclusive
    }

    pub fn sublicensable(&self) -> bool {
        self.sublicensable
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn upfront_fee(&self) -> Option<Decimal> {
        self.upfront_fee
    }

    pub fn minimum_guarantee(&self) -> Option<Decimal> {
        self.minimum_guarantee
    }

    pub fn per_stream_rate(&self) -> Option<Decimal> {
        self.per_stream_rate
    }

    pub fn revenue_share_percent(&self) -> Option<Decimal> {
        self.revenue_share_percent
    }

    /// In due-date order.
    pub fn installments(&self) -> &[Installment] {
        &self.installments
    }

    pub fn clauses(&self) -> Option<&str> {
        self.clauses.as_deref()
    }

    pub fn respond_by(&self) -> Option<DateTime<Utc>> {
        self.respond_by
    }

    /// `upfront_fee + minimum_guarantee`: what the installments add up to.
    pub fn scheduled_total(&self) -> Decimal {
        // Both fit in i64 minor units, so their sum fits in a Decimal.
        let mut total =
            self.upfront_fee.unwrap_or_default() + self.minimum_guarantee.unwrap_or_default();
        total.rescale(self.currency.minor_units());
        total
    }

    /// The terms in the input shape, canonically spelled (parsing it gives
    /// back an equal `TermSheet`).
    pub fn to_input(&self) -> TermSheetInput {
        let currency = self.currency;
        let mut usages: Vec<String> = self.usages.iter().map(|u| u.as_str().to_string()).collect();
        usages.sort();
        TermSheetInput {
            slice_id: self.slice_id.clone(),
            territories: self.territories.to_list(),
            usages,
            start_date: format_date(self.period.start),
            end_date: format_date(self.period.end),
            exclusive: self.exclusive,
            sublicensable: self.sublicensable,
            currency: currency.code().to_string(),
            upfront_fee: self.upfront_fee.map(|a| currency.format_amount(a)),
            minimum_guarantee: self.minimum_guarantee.map(|a| currency.format_amount(a)),
            per_stream_rate: self.per_stream_rate.map(format_rate),
            revenue_share_percent: self.revenue_share_percent.map(format_rate),
            installments: self
                .installments
                .iter()
                .map(|i| InstallmentInput {
                    due_date: format_date(i.due_date),
                    amount: currency.format_amount(i.amount),
                })
                .collect(),
            clauses: self.clauses.clone(),
            respond_by: self.respond_by.map(format_instant),
        }
    }

    /// The canonical JSON document (see the module documentation).
    pub fn canonical_json(&self) -> String {
        let mut out = String::new();
        write_canonical(&self.canonical_value(), &mut out);
        out
    }

    /// Lowercase hex SHA-256 of [`TermSheet::canonical_json`]: what a signature signs.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// Every term that differs from `self` (old) to `other` (new), in
    /// [`TERM_FIELDS`] order; installments are compared as one term.
    pub fn diff(&self, other: &TermSheet) -> Vec<TermChange> {
        let old = self.canonical_map();
        let new = other.canonical_map();
        TERM_FIELDS
            .iter()
            .filter_map(|field| {
                let before = old.get(*field).cloned().unwrap_or(Value::Null);
                let after = new.get(*field).cloned().unwrap_or(Value::Null);
                (before != after).then(|| TermChange {
                    field: (*field).to_string(),
                    old: before,
                    new: after,
                })
            })
            .collect()
    }

    fn canonical_value(&self) -> Value {
        Value::Object(self.canonical_map())
    }

    fn canonical_map(&self) -> Map<String, Value> {
        let input = self.to_input();
        let text = |s: String| Value::String(s);
        let optional = |s: Option<String>| s.map_or(Value::Null, Value::String);
        let list =
            |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
        let installments = input
            .installments
            .into_iter()
            .map(|i| {
                let mut m = Map::new();
                m.insert("amount".into(), text(i.amount));
                m.insert("due_date".into(), text(i.due_date));
                Value::Object(m)
            })
            .collect();
        let mut m = Map::new();
        m.insert("slice_id".into(), text(input.slice_id));
        m.insert("territories".into(), list(input.territories));
        m.insert("usages".into(), list(input.usages));
        m.insert("start_date".into(), text(input.start_date));
        m.insert("end_date".into(), text(input.end_date));
        m.insert("exclusive".into(), Value::Bool(input.exclusive));
        m.insert("sublicensable".into(), Value::Bool(input.sublicensable));
        m.insert("currency".into(), text(input.currency));
        m.insert("upfront_fee".into(), optional(input.upfront_fee));
        m.insert(
            "minimum_guarantee".into(),
            optional(input.minimum_guarantee),
        );
        m.insert("per_stream_rate".into(), optional(input.per_stream_rate));
        m.insert(
            "revenue_share_percent".into(),
            optional(input.revenue_share_percent),
        );
        m.insert("installments".into(), Value::Array(installments));
        m.insert("clauses".into(), optional(input.clauses));
        m.insert("respond_by".into(), optional(input.respond_by));
        m
    }
}

impl Serialize for TermSheet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_input().serialize(serializer)
    }
}

// The API shows a `TermSheet` in exactly the input shape.
impl utoipa::PartialSchema for TermSheet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <TermSheetInput as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for TermSheet {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <TermSheetInput as utoipa::ToSchema>::schemas(schemas);
    }
}

fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn format_instant(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn format_rate(rate: Decimal) -> String {
    rate.normalize().to_string()
}

/// Writes `value` as compact JSON with object keys sorted at every level,
/// whatever order the map keeps (serde_json's `preserve_order` feature may be
/// on in the main crate's dependency graph).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Null, booleans, strings (and numbers, which terms never contain) print compactly.
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// A strict `YYYY-MM-DD` calendar date.
fn parse_date(input: &str) -> Result<NaiveDate, String> {
    let bytes = input.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    let invalid = || format!("must be a date as YYYY-MM-DD, such as 2027-01-01 (got `{input}`)");
    if !shaped {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| input[range].parse::<u32>().ok();
    match (number(0..4), number(5..7), number(8..10)) {
        (Some(y), Some(m), Some(d)) => i32::try_from(y)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
            .ok_or_else(|| format!("`{input}` is not a calendar date")),
        _ => Err(invalid()),
    }
}

fn parse_instant(input: &str) -> Result<DateTime<Utc>, String> {
    let instant = DateTime::parse_from_rfc3339(input)
        .map_err(|_| {
            format!("must be an RFC 3339 instant such as 2026-12-31T00:00:00Z (got `{input}`)")
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(0);
    // The canonical form has a four-digit year; offsets could push past it.
    let year = chrono::Datelike::year(&instant);
    if !(1..=9999).contains(&year) {
        return Err("must be between years 0001 and 9999 in UTC".to_string());
    }
    Ok(instant)
}

fn parse_percent(input: &str) -> Result<Decimal, String> {
    let percent = parse_non_negative_decimal(input, PERCENT_MAX_DECIMALS).map_err(|e| match e {
        DecimalInputError::TooManyDecimals => {
            format!("must have at most {PERCENT_MAX_DECIMALS} decimal places")
        }
        other => other.to_string(),
    })?;
    if percent > Decimal::ONE_HUNDRED {
        return Err("must be between 0 and 100".to_string());
    }
    Ok(percent.normalize())
}

fn has_forbidden_control(text: &str, allow_line_breaks: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(allow_line_breaks && matches!(c, '\n' | '\r' | '\t')))
}

/// Parsing state of one optional field.
enum Field<T> {
    Absent,
    Valid(T),
    Invalid,
}

impl<T: Copy> Field<T> {
    fn value(&self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(*v),
            _ => None,
        }
    }
}

fn optional<T>(
    errors: &mut ValidationErrors,
    field: &str,
    input: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Field<T> {
    match input.map(parse) {
        None => Field::Absent,
        Some(Ok(v)) => Field::Valid(v),
        Some(Err(message)) => {
            errors.push(field, message);
            Field::Invalid
        }
    }
}

fn required<T>(errors: &mut ValidationErrors, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|message| errors.push(field, message)).ok()
}

fn collect<T>(errors: &mut ValidationErrors, result: Result<T, ValidationErrors>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            errors.0.extend(e.0);
            None
        }
    }
}

fn parse_terms(
    input: &TermSheetInput,
    moment: Option<(&TermsContext, DateTime<Utc>)>,
) -> Result<TermSheet, ValidationErrors> {
    let mut errors = ValidationErrors::new();

    let slice_id = &input.slice_id;
    if slice_id.trim().is_empty() {
        errors.push("slice_id", "must not be empty");
    } else if slice_id.chars().count() > MAX_SLICE_ID_CHARS {
        errors.push(
            "slice_id",
            format!("must be at most {MAX_SLICE_ID_CHARS} characters"),
        );
    } else if has_forbidden_control(slice_id, false) {
        errors.push("slice_id", "must not contain control characters");
    }

    let territories = collect(
        &mut errors,
        Territories::parse_list_at("territories", &input.territories),
    );
    let usages = collect(&mut errors, Usages::parse_list_at("usages", &input.usages));
    let start = required(&mut errors, "start_date", parse_date(&input.start_date));
    let end = required(&mut errors, "end_date", parse_date(&input.end_date));
    let period = match (start, end) {
        (Some(start), Some(end)) => collect(&mut errors, Period::validate(start, end, "end_date")),
        _ => None,
    };

    let currency = required(
        &mut errors,
        "currency",
        Currency::parse(&input.currency).map_err(|e| e.to_string()),
    );
    // With an unknown currency amounts are still checked for shape, so the
    // client hears about every problem at once.
    let amount = |s: &str| match currency {
        Some(c) => c.parse_amount(s),
        None => parse_non_negative_decimal(s, u32::MAX).map_err(|e| e.to_string()),
    };
    let upfront_fee = optional(
        &mut errors,
        "upfront_fee",
        input.upfront_fee.as_deref(),
        amount,
    );
    let minimum_guarantee = optional(
        &mut errors,
        "minimum_guarantee",
        input.minimum_guarantee.as_deref(),
        amount,
    );
    let per_stream_rate = optional(
        &mut errors,
        "per_stream_rate",
        input.per_stream_rate.as_deref(),
        Currency::parse_rate,
    );
    let revenue_share_percent = optional(
        &mut errors,
        "revenue_share_percent",
        input.revenue_share_percent.as_deref(),
        parse_percent,
    );
    let fees = [
        &upfront_fee,
        &minimum_guarantee,
        &per_stream_rate,
        &revenue_share_percent,
    ];
    let any_invalid_fee = fees.iter().any(|f| matches!(f, Field::Invalid));
    let any_positive_fee = fees
        .iter()
        .any(|f| f.value().is_some_and(|v| v > Decimal::ZERO));
    if !any_invalid_fee && !any_positive_fee {
        errors.push(
            "fee_model",
            "at least one of upfront_fee, minimum_guarantee, per_stream_rate and \
             revenue_share_percent must be present and greater than 0",
        );
    }

    let installments = parse_installments(&mut errors, input, end, &amount);
    if let (Some(installments), Some(currency)) = (&installments, currency) {
        check_installment_total(
            &mut errors,
            installments,
            currency,
            &upfront_fee,
            &minimum_guarantee,
        );
    }

    let clauses = match input.clauses.as_deref() {
        None => None,
        Some(text) if text.trim().is_empty() => None,
        Some(text) => {
            if text.chars().count() > MAX_CLAUSES_CHARS {
                errors.push(
                    "clauses",
                    format!("must be at most {MAX_CLAUSES_CHARS} characters"),
                );
            } else if has_forbidden_control(text, true) {
                errors.push(
                    "clauses",
                    "must not contain control characters other than tab and line breaks",
                );
            }
            Some(text.to_string())
        }
    };

    let respond_by = optional(
        &mut errors,
        "respond_by",
        input.respond_by.as_deref(),
        parse_instant,
    );

    if let Some((ctx, now)) = moment {
        check_holding(&mut errors, input, ctx, start, end, &territories, &usages);
        if let Some(respond_by) = respond_by.value() {
            if respond_by <= now {
                errors.push(
                    "respond_by",
                    format!("must be in the future (it is now {})", format_instant(now)),
                );
            }
        }
    }

    errors.into_result()?;
    match (
        territories,
        usages,
        period,
        currency,
        installments,
        upfront_fee,
        minimum_guarantee,
        per_stream_rate,
        revenue_share_percent,
        respond_by,
    ) {
        (
            Some(territories),
            Some(usages),
            Some(period),
            Some(currency),
            Some(installments),
            upfront_fee,
            minimum_guarantee,
            per_stream_rate,
            revenue_share_percent,
            respond_by,
        ) => Ok(TermSheet {
            slice_id: input.slice_id.clone(),
            territories,
            usages,
            period,
            exclusive: input.exclusive,
            sublicensable: input.sublicensable,
            currency,
            upfront_fee: upfront_fee.value(),
            minimum_guarantee: minimum_guarantee.value(),
            per_stream_rate: per_stream_rate.value(),
            revenue_share_percent: revenue_share_percent.value(),
            installments,
            clauses,
            respond_by: respond_by.value(),
        }),
        // Every field that failed pushed an error, so this is unreachable; it
        // is still answered as an error rather than a panic.
        _ => Err(ValidationErrors::single("terms", "invalid terms")),
    }
}

/// The installments, or `None` when any of them is invalid (errors pushed).
fn parse_installments(
    errors: &mut ValidationErrors,
    input: &TermSheetInput,
    end: Option<NaiveDate>,
    amount: &dyn Fn(&str) -> Result<Decimal, String>,
) -> Option<Vec<Installment>> {
    if input.installments.len() > MAX_INSTALLMENTS {
        errors.push(
            "installments",
            format!("must have at most {MAX_INSTALLMENTS} installments"),
        );
        return None;
    }
    let mut installments = Vec::with_capacity(input.installments.len());
    let mut all_valid = true;
    let mut previous: Option<(usize, NaiveDate)> = None;
    for (i, raw) in input.installments.iter().enumerate() {
        let due_field = format!("installments[{i}].due_date");
        let amount_field = format!("installments[{i}].amount");
        let due_date = required(errors, &due_field, parse_date(&raw.due_date));
        if let Some(due) = due_date {
            if let Some(end) = end.filter(|end| due > *end) {
                errors.push(
                    &due_field,
                    format!("must not be after end_date ({})", format_date(end)),
                );
            }
            if let Some((j, before)) = previous.filter(|(_, before)| due < *before) {
                errors.push(
                    &due_field,
                    format!(
                        "must not be before installments[{j}].due_date ({}): \
                         installments are listed in due-date order",
                        format_date(before)
                    ),
                );
            }
            previous = Some((i, due));
        }
        let value = match amount(&raw.amount) {
            Ok(v) if v.is_zero() => {
                errors.push(&amount_field, "must be greater than 0");
                None
            }
            Ok(v) => Some(v),
            Err(message) => {
                errors.push(&amount_field, message);
                None
            }
        };
        match (due_date, value) {
            (Some(due_date), Some(amount)) => installments.push(Installment { due_date, amount }),
            _ => all_valid = false,
        }
    }
    all_valid.then_some(installments)
}

fn check_installment_total(
    errors: &mut ValidationErrors,
    installments: &[Installment],
    currency: Currency,
    upfront_fee: &Field<Decimal>,
    minimum_guarantee: &Field<Decimal>,
) {
    if matches!(upfront_fee, Field::Invalid) || matches!(minimum_guarantee, Field::Invalid) {
        return;
    }
    let total =
        upfront_fee.value().unwrap_or_default() + minimum_guarantee.value().unwrap_or_default();
    let sum = installments
        .iter()
        .try_fold(Decimal::ZERO, |acc, i| acc.checked_add(i.amount));
    let show = |d: Decimal| format!("{} {}", currency.format_amount(d), currency.code());
    match sum {
        _ if total > Decimal::ZERO && installments.is_empty() => errors.push(
            "installments",
            format!(
                "are required: upfront_fee + minimum_guarantee ({}) must be scheduled",
                show(total)
            ),
        ),
        Some(sum) if sum == total => {}
        Some(sum) => errors.push(
            "installments",
            format!(
                "add up to {}, but upfront_fee + minimum_guarantee is {}; they must be equal",
                show(sum),
                show(total)
            ),
        ),
        None => errors.push("installments", "add up to more than can be represented"),
    }
}

fn check_holding(
    errors: &mut ValidationErrors,
    input: &TermSheetInput,
    ctx: &TermsContext,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    territories: &Option<Territories>,
    usages: &Option<Usages>,
) {
    // Per entry, so a form can mark exactly what is not held; only once the
    // list itself parsed, to avoid a second error on a bad entry.
    if territories.is_some() && !ctx.territories.is_worldwide() {
        for (i, item) in input.territories.iter().enumerate() {
            if item.eq_ignore_ascii_case(WORLDWIDE) {
                errors.push(
                    format!("territories[{i}]"),
                    "the catalog does not hold worldwide rights",
                );
            } else if let Ok(t) = Territory::parse(item) {
                if !ctx.territories.contains(t) {
                    errors.push(
                        format!("territories[{i}]"),
                        format!("{t} is not among the catalog's territories"),
                    );
                }
            }
        }
    }
    if usages.is_some() {
        for (i, item) in input.usages.iter().enumerate() {
            if let Ok(u) = item.parse::<Usage>() {
                if !ctx.usages.contains(u) {
                    errors.push(
                        format!("usages[{i}]"),
                        format!("{u} is not among the catalog's usages"),
                    );
                }
            }
        }
    }
    let holding = ctx.period;
    if let Some(start) = start.filter(|s| *s < holding.start) {
        errors.push(
            "start_date",
            format!(
                "{} is before the catalog's holding starts ({})",
                format_date(start),
                format_date(holding.start)
            ),
        );
    }
    if let Some(end) = end.filter(|e| *e > holding.end) {
        errors.push(
            "end_date",
            format!(
                "{} is after the catalog's holding ends ({})",
                format_date(end),
                format_date(holding.end)
            ),
        );
    }
    if input.sublicensable && !ctx.sublicensable {
        errors.push(
            "sublicensable",
            "the catalog's holding does not allow sublicensing further",
        );
    }
}

#[cfg(test)]
mod tests {
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
    const SPEC_EXAMPLE_HASH: &str =
        "bae9e42a213358720ed4df0f3721269023e2a675e46b02e377e845d818dd563d";

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
        }
    }

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

    #[test]
    fn golden_canonical_json_and_hash_of_the_spec_example() {
        let t = sheet(&input());
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
        let expected: Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();
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
        let v: Value = serde_json::from_str(&sheet(&input()).canonical_json()).unwrap();
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
            let mut territories: Vec<String> =
                self.territories.iter().map(|c| c.to_string()).collect();
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
                let offset =
                    chrono::FixedOffset::east_opt(self.respond_offset_minutes * 60).unwrap();
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
            prop_assert_eq!(a.to_input(), plain);
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
}
