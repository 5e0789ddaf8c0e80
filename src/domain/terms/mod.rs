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
//!   `sublicensable`, `territories`, `upfront_fee`, `usages`, plus
//!   `tracks_hash` (16 keys) in every revision proposed since the terms commit
//!   to the tracks; each installment has `amount` and `due_date`.
//! - `tracks_hash`: the slice's content hash, lowercase hex SHA-256 over its
//!   ISRCs sorted in byte order, each followed by `\n` (see
//!   `domain::recording`); filled in from the slice when terms are proposed, so
//!   a signature commits to exactly the recordings. Revisions from before it
//!   existed have no such key (not `null`), which keeps their hashes unchanged.
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

mod canonical;
mod parse;
mod royalties;
#[cfg(test)]
mod tests;

use canonical::*;
use parse::*;
use royalties::{parse_royalties, royalties_input, royalties_value};
pub use royalties::{
    AdvanceInput, GuaranteeInput, RevenueShareInput, RoyaltyTermsInput, MAX_STATEMENT_DUE_DAYS,
};

use crate::domain::royalty::Economics;

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
    /// SHA-256 over the slice's sorted ISRCs (`docs/negotiation.md`). Filled in
    /// by the server from the slice; a client may send it to pin the tracks it
    /// read, and the terms are refused if the slice does not hash to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub tracks_hash: Option<String>,
    /// The royalty terms (`docs/royalties.md`): advance, minimum guarantee,
    /// revenue share, floors, combination, accounting period, statement due
    /// days. Replaces `minimum_guarantee`, `per_stream_rate` and
    /// `revenue_share_percent`, which must then be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub royalties: Option<RoyaltyTermsInput>,
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
    /// Whether the holding may be granted on exclusively (rights received
    /// through a non-exclusive grant may not).
    pub exclusive: bool,
    /// For rights received through a grant: that grant, and the day its
    /// backing ended as a whole, if it did. Messages name it.
    pub upstream: Option<UpstreamContext>,
    /// The slice's content hash: what the terms commit to.
    pub tracks_hash: String,
}

/// The upstream grant a received catalog's rights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamContext {
    pub grant_id: String,
    /// Set when the grant was terminated or ran out: nothing can be passed on.
    pub ended_on: Option<NaiveDate>,
}

impl TermsContext {
    /// Whose rights the terms must fit in, for messages.
    pub(crate) fn holder(&self) -> String {
        match &self.upstream {
            Some(u) => format!("upstream grant {}", u.grant_id),
            None => "the catalog".to_string(),
        }
    }
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
    /// `None` only in revisions proposed before the terms committed to the tracks.
    tracks_hash: Option<String>,
    /// `None` in term sheets that use the earlier flat fields.
    royalties: Option<Economics>,
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
pub const TERM_FIELDS: [&str; 17] = [
    "slice_id",
    "tracks_hash",
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
    "royalties",
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

    /// SHA-256 over the slice's sorted ISRCs, when the revision commits to it.
    pub fn tracks_hash(&self) -> Option<&str> {
        self.tracks_hash.as_deref()
    }

    /// The royalty terms, when the sheet states them (`royalties`).
    pub fn royalties(&self) -> Option<&Economics> {
        self.royalties.as_ref()
    }

    /// What statements are computed from: the royalty terms, or for a sheet
    /// with the earlier flat fields, what those stand for
    /// (`Economics::from_earlier_terms`).
    pub fn economics(&self) -> Economics {
        match &self.royalties {
            Some(economics) => economics.clone(),
            None => Economics::from_earlier_terms(
                self.currency,
                self.minimum_guarantee,
                self.per_stream_rate,
                self.revenue_share_percent,
            ),
        }
    }

    /// What is paid ahead besides the fee: the advance of the royalty terms,
    /// or the earlier minimum guarantee (paid ahead and recouped).
    pub fn advance_amount(&self) -> Option<Decimal> {
        match &self.royalties {
            Some(economics) => economics.advance.map(|a| a.amount),
            None => self.minimum_guarantee,
        }
    }

    /// `upfront_fee` plus the amount paid ahead ([`TermSheet::advance_amount`]):
    /// what the installments add up to.
    pub fn scheduled_total(&self) -> Decimal {
        // Both fit in i64 minor units, so their sum fits in a Decimal.
        let mut total =
            self.upfront_fee.unwrap_or_default() + self.advance_amount().unwrap_or_default();
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
            tracks_hash: self.tracks_hash.clone(),
            royalties: self.royalties.as_ref().map(royalties_input),
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
        // Absent (not null) in revisions from before the terms committed to the
        // tracks, so their canonical JSON and hash stay exactly what was signed.
        if let Some(hash) = input.tracks_hash {
            m.insert("tracks_hash".into(), text(hash));
        }
        // Likewise absent in sheets with the earlier flat fields.
        if let Some(royalties) = input.royalties {
            m.insert("royalties".into(), royalties_value(royalties));
        }
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
