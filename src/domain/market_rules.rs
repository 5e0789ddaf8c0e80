//! Market rules: what regulators forbid per territory, set by the operator in a
//! TOML file, versioned, and checked against every term sheet proposed, accepted
//! or signed.
//!
//! In 2021 China's market regulator (SAMR) ordered the largest music platform to
//! end its exclusive licences and to stop charging high prepayments. A deal that
//! is valid between two parties may therefore still be one the market forbids;
//! these rules say which, and where.
//!
//! # The file
//!
//! ```toml
//! [[rule]]
//! id = "cn-no-exclusive"        # stable id: a-z, 0-9 and `-`, unique in the file
//! version = 1                   # bumped by the operator when the rule changes
//! territory = "CN"              # one ISO 3166-1 alpha-2 code
//! kind = "no_exclusive"         # exclusive grants forbidden
//! effective_from = "2021-08-31" # a string or a TOML date
//! description = "SAMR order of 2021-07-24: no exclusive music licences"
//!
//! [[rule]]
//! id = "cn-prepayment-cap"
//! version = 1
//! territory = "CN"
//! kind = "prepayment_cap"
//! max_percent = "30"            # a decimal string (or a whole number), 0 to 100
//! effective_from = "2021-08-31"
//! effective_until = "2031-12-31" # optional, inclusive
//! ```
//!
//! Only `[[rule]]` tables are allowed at the top level, and only the keys above
//! inside them; anything else (a misspelt `effective_untill`, a TOML float for
//! `max_percent`, a kind this version does not know) refuses the whole file, every
//! problem named by rule and key, so a rule can never be silently weakened.
//!
//! # When a rule applies
//!
//! A rule applies to a term sheet when
//! - its territory is one of the sheet's territories, or the sheet is worldwide;
//! - and the sheet's period (inclusive) shares at least one day with the rule's
//!   window `effective_from ..= effective_until` (open-ended without
//!   `effective_until`). A term ending on `effective_from` is caught; one ending the
//!   day before is not.
//!
//! What it then demands, by kind:
//! - `no_exclusive`: `exclusive` is false (breach on the term `exclusive`);
//! - `prepayment_cap`: the installments falling due on or before the term's start
//!   date add up to at most `max_percent` % of the scheduled total (upfront fee +
//!   minimum guarantee, [`TermSheet::scheduled_total`]); compared exactly as
//!   `prepaid × 100 ≤ max_percent × total` in decimals, never floats (breach on
//!   `installments`). A sheet with nothing scheduled cannot breach it.
//!
//! # The ruleset version
//!
//! [`MarketRules::version`] is the lowercase hex SHA-256 of the rules' canonical
//! JSON (sorted by id, normalized values: uppercase territory, `"30"` for `"30.00"`,
//! dates `YYYY-MM-DD`). Comments, key order, formatting and the order of the
//! `[[rule]]` tables do not change it; any change to what a rule says does. Nodes
//! serving the same file report the same version.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::money::parse_non_negative_decimal;
use crate::domain::stored::stored_enum;
use crate::domain::terms::{TermSheet, PERCENT_MAX_DECIMALS};
use crate::domain::territory::{Territory, WORLDWIDE};

/// Most rules one file may hold (a ruleset is a handful; this bounds the listing).
pub const MAX_RULES: usize = 1_000;
/// Longest rule id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// What a rule forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Exclusive grants are forbidden.
    NoExclusive,
    /// What falls due on or before the start date is capped at a percentage of the
    /// scheduled total (upfront fee + minimum guarantee).
    PrepaymentCap,
}

stored_enum! {
    RuleKind { NoExclusive = "no_exclusive", PrepaymentCap = "prepayment_cap" }
    unknown struct UnknownRuleKind = "unknown rule kind `{0}`: expected no_exclusive or prepayment_cap"
}

/// The term of a sheet a rule finds at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreachField {
    Exclusive,
    Installments,
}

impl BreachField {
    /// The term's key in the term sheet.
    pub fn as_str(self) -> &'static str {
        match self {
            BreachField::Exclusive => "exclusive",
            BreachField::Installments => "installments",
        }
    }
}

/// What a rule demands, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    NoExclusive,
    /// `max_percent` is between 0 and 100, at most [`PERCENT_MAX_DECIMALS`] decimals.
    PrepaymentCap {
        max_percent: Decimal,
    },
}

impl Constraint {
    pub fn kind(&self) -> RuleKind {
        match self {
            Constraint::NoExclusive => RuleKind::NoExclusive,
            Constraint::PrepaymentCap { .. } => RuleKind::PrepaymentCap,
        }
    }

    /// `max_percent` of a prepayment cap, normalized (`30`, `12.5`).
    pub fn max_percent(&self) -> Option<Decimal> {
        match self {
            Constraint::NoExclusive => None,
            Constraint::PrepaymentCap { max_percent } => Some(max_percent.normalize()),
        }
    }
}

/// One valid rule. Only [`MarketRules::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketRule {
    id: String,
    version: u32,
    territory: Territory,
    constraint: Constraint,
    effective_from: NaiveDate,
    effective_until: Option<NaiveDate>,
    description: Option<String>,
}

impl MarketRule {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn territory(&self) -> Territory {
        self.territory
    }

    pub fn constraint(&self) -> Constraint {
        self.constraint
    }

    pub fn kind(&self) -> RuleKind {
        self.constraint.kind()
    }

    /// First day the rule applies to, inclusive.
    pub fn effective_from(&self) -> NaiveDate {
        self.effective_from
    }

    /// Last day the rule applies to, inclusive; `None`: open-ended.
    pub fn effective_until(&self) -> Option<NaiveDate> {
        self.effective_until
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Whether the rule speaks to these terms: the territory is licensed (or the
    /// sheet is worldwide) and the term shares a day with the rule's window.
    pub fn applies_to(&self, terms: &TermSheet) -> bool {
        let period = terms.period();
        terms.territories().contains(self.territory)
            && period.end >= self.effective_from
            && self
                .effective_until
                .is_none_or(|until| period.start <= until)
    }

    /// The breach of this rule by `terms`, if any.
    pub fn breach(&self, terms: &TermSheet) -> Option<RuleBreach> {
        if !self.applies_to(terms) {
            return None;
        }
        match self.constraint {
            Constraint::NoExclusive => terms.exclusive().then(|| {
                self.breach_of(
                    BreachField::Exclusive,
                    format!(
                        "market rule {} v{} forbids exclusive grants in {} {}",
                        self.id,
                        self.version,
                        self.territory,
                        self.window_text()
                    ),
                )
            }),
            Constraint::PrepaymentCap { max_percent } => {
                let prepayment = Prepayment::of(terms);
                (!prepayment.within(max_percent)).then(|| {
                    let currency = terms.currency();
                    let share = prepayment
                        .percent()
                        .map(|p| format!(" ({p}%)"))
                        .unwrap_or_default();
                    self.breach_of(
                        BreachField::Installments,
                        format!(
                            "market rule {} v{} caps what falls due on or before the start date at {}% \
                             of upfront fee + minimum guarantee in {} {}: {} of {} {} falls due by {}{}",
                            self.id,
                            self.version,
                            max_percent.normalize(),
                            self.territory,
                            self.window_text(),
                            currency.format_amount(prepayment.prepaid),
                            currency.format_amount(prepayment.total),
                            currency.code(),
                            terms.period().start,
                            share
                        ),
                    )
                })
            }
        }
    }

    fn breach_of(&self, field: BreachField, message: String) -> RuleBreach {
        RuleBreach {
            rule_id: self.id.clone(),
            version: self.version,
            territory: self.territory,
            kind: self.kind(),
            field,
            message,
        }
    }

    /// `from 2021-08-31` or `from 2021-08-31 to 2031-12-31`.
    fn window_text(&self) -> String {
        match self.effective_until {
            Some(until) => format!("from {} to {until}", self.effective_from),
            None => format!("from {}", self.effective_from),
        }
    }

    /// The canonical JSON value hashed into the ruleset version.
    fn canonical_value(&self) -> serde_json::Value {
        let mut parameters = serde_json::Map::new();
        if let Some(max) = self.constraint.max_percent() {
            parameters.insert("max_percent".into(), max.to_string().into());
        }
        serde_json::json!({
            "description": self.description,
            "effective_from": self.effective_from.to_string(),
            "effective_until": self.effective_until.map(|d| d.to_string()),
            "id": self.id,
            "kind": self.kind().as_str(),
            "parameters": parameters,
            "territory": self.territory.as_str(),
            "version": self.version,
        })
    }
}

/// How much of a sheet's scheduled total falls due on or before its start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepayment {
    pub prepaid: Decimal,
    pub total: Decimal,
}

impl Prepayment {
    pub fn of(terms: &TermSheet) -> Prepayment {
        let start = terms.period().start;
        // Installments add up exactly to the total (a parsed sheet guarantees it), so
        // a partial sum cannot overflow; saturate rather than panic all the same.
        let prepaid = terms
            .installments()
            .iter()
            .filter(|i| i.due_date <= start)
            .fold(Decimal::ZERO, |sum, i| {
                sum.checked_add(i.amount).unwrap_or(Decimal::MAX)
            });
        Prepayment {
            prepaid,
            total: terms.scheduled_total(),
        }
    }

    /// `prepaid × 100 ≤ max_percent × total`, exactly. Nothing scheduled is always
    /// within. A product too large for a decimal (not reachable from a parsed sheet)
    /// counts as outside: a rule is never passed by accident.
    pub fn within(&self, max_percent: Decimal) -> bool {
        if self.prepaid.is_zero() {
            return true;
        }
        match (
            self.prepaid.checked_mul(Decimal::ONE_HUNDRED),
            max_percent.checked_mul(self.total),
        ) {
            (Some(prepaid), Some(allowed)) => prepaid <= allowed,
            _ => false,
        }
    }

    /// `prepaid / total` in percent, rounded to 2 decimals, for messages only.
    pub fn percent(&self) -> Option<Decimal> {
        if self.total.is_zero() {
            return None;
        }
        self.prepaid
            .checked_mul(Decimal::ONE_HUNDRED)?
            .checked_div(self.total)
            .map(|p| p.round_dp(2).normalize())
    }
}

/// One rule a term sheet breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleBreach {
    /// The rule's id (`cn-no-exclusive`).
    pub rule_id: String,
    /// The rule's version in force.
    pub version: u32,
    pub territory: Territory,
    pub kind: RuleKind,
    /// The term at fault.
    pub field: BreachField,
    /// Names the rule, its version, territory and window.
    pub message: String,
}

/// Every rule a term sheet breaks (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|b| b.message.as_str()).collect::<Vec<_>>().join("; "))]
pub struct RuleBreaches(pub Vec<RuleBreach>);

impl RuleBreaches {
    /// The breaches as field errors under `prefix` (`terms.exclusive`).
    pub fn field_errors(&self, prefix: &str) -> crate::domain::ValidationErrors {
        let mut errors = crate::domain::ValidationErrors::new();
        for breach in &self.0 {
            errors.push(
                format!("{prefix}.{}", breach.field.as_str()),
                breach.message.clone(),
            );
        }
        errors
    }
}

/// The operator's rules, valid by construction, sorted by id, with their version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketRules {
    rules: Vec<MarketRule>,
    version: String,
}

impl Default for MarketRules {
    /// No rules: every term sheet passes.
    fn default() -> Self {
        MarketRules::from_rules(Vec::new())
    }
}

impl MarketRules {
    /// No rules (the default when no file is configured).
    pub fn none() -> MarketRules {
        MarketRules::default()
    }

    fn from_rules(mut rules: Vec<MarketRule>) -> MarketRules {
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        let canonical =
            serde_json::Value::Array(rules.iter().map(MarketRule::canonical_value).collect())
                .to_string();
        let version = hex::encode(Sha256::digest(canonical.as_bytes()));
        MarketRules { rules, version }
    }

    /// The rules, sorted by id.
    pub fn rules(&self) -> &[MarketRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Lowercase hex SHA-256 of the canonical rules (see the module documentation).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every rule `terms` breaks, in rule-id order.
    pub fn check(&self, terms: &TermSheet) -> Result<(), RuleBreaches> {
        let breaches: Vec<RuleBreach> = self.rules.iter().filter_map(|r| r.breach(terms)).collect();
        if breaches.is_empty() {
            Ok(())
        } else {
            Err(RuleBreaches(breaches))
        }
    }

    /// Parses the rules file's text. Every problem is reported, by rule and key.
    pub fn parse(text: &str) -> Result<MarketRules, RulesFileError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            RulesFileError(vec![RuleFileProblem::file(format!(
                "is not valid TOML: {}",
                e.message()
            ))
            .at_span(text, e.span())])
        })?;
        let mut problems = Vec::new();
        let mut raw_rules: &[toml::Value] = &[];
        for (key, value) in &table {
            match (key.as_str(), value) {
                ("rule", toml::Value::Array(items)) => raw_rules = items,
                ("rule", _) => problems.push(RuleFileProblem::file(
                    "`rule` must be an array of tables, written `[[rule]]`",
                )),
                (other, _) => problems.push(RuleFileProblem::file(format!(
                    "unknown top-level key `{other}`: the file holds `[[rule]]` tables only"
                ))),
            }
        }
        if raw_rules.len() > MAX_RULES {
            problems.push(RuleFileProblem::file(format!(
                "holds {} rules; at most {MAX_RULES} are allowed",
                raw_rules.len()
            )));
            return Err(RulesFileError(problems));
        }
        let mut rules = Vec::with_capacity(raw_rules.len());
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in raw_rules.iter().enumerate() {
            let number = i + 1;
            let toml::Value::Table(fields) = raw else {
                problems.push(RuleFileProblem {
                    rule: Some(number),
                    id: None,
                    field: None,
                    message: "must be a table, written `[[rule]]`".into(),
                });
                continue;
            };
            match parse_rule(number, fields) {
                Ok(rule) => {
                    if let Some(first) = seen.get(&rule.id) {
                        problems.push(RuleFileProblem {
                            rule: Some(number),
                            id: Some(rule.id.clone()),
                            field: Some("id".into()),
                            message: format!(
                                "duplicates the id of rule {first}; ids must be unique"
                            ),
                        });
                    } else {
                        seen.insert(rule.id.clone(), number);
                        rules.push(rule);
                    }
                }
                Err(mut found) => problems.append(&mut found),
            }
        }
        if problems.is_empty() {
            Ok(MarketRules::from_rules(rules))
        } else {
            Err(RulesFileError(problems))
        }
    }
}

/// One problem of a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileProblem {
    /// 1-based position of the `[[rule]]` table, when the problem is inside one.
    pub rule: Option<usize>,
    /// The rule's id, when it could be read.
    pub id: Option<String>,
    /// The key at fault.
    pub field: Option<String>,
    pub message: String,
}

impl RuleFileProblem {
    fn file(message: impl Into<String>) -> Self {
        RuleFileProblem {
            rule: None,
            id: None,
            field: None,
            message: message.into(),
        }
    }

    /// Adds the line and column of a TOML syntax error.
    fn at_span(mut self, text: &str, span: Option<std::ops::Range<usize>>) -> Self {
        if let Some(span) = span {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            self.message = format!("line {line}, column {column}: {}", self.message);
        }
        self
    }
}

impl fmt::Display for RuleFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.rule, &self.id) {
            (Some(n), Some(id)) => write!(f, "rule {n} (`{id}`)")?,
            (Some(n), None) => write!(f, "rule {n}")?,
            (None, _) => f.write_str("the file")?,
        }
        if let Some(field) = &self.field {
            write!(f, ", `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a rules file was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesFileError(pub Vec<RuleFileProblem>);

impl fmt::Display for RulesFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

const RULE_KEYS: [&str; 8] = [
    "id",
    "version",
    "territory",
    "kind",
    "max_percent",
    "effective_from",
    "effective_until",
    "description",
];

/// Reads one `[[rule]]` table, collecting every problem.
fn parse_rule(number: usize, fields: &toml::Table) -> Result<MarketRule, Vec<RuleFileProblem>> {
    let raw_id = fields.get("id").and_then(toml::Value::as_str);
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(RuleFileProblem {
            rule: Some(number),
            id: raw_id.map(str::to_string),
            field: Some(field.to_string()),
            message,
        });
    };
    for key in fields.keys() {
        if !RULE_KEYS.contains(&key.as_str()) {
            problem(
                key,
                format!("is not a rule key; expected {}", RULE_KEYS.join(", ")),
            );
        }
    }
    let id = match fields.get("id") {
        None => {
            problem("id", "is required".into());
            None
        }
        Some(toml::Value::String(id)) => match check_id(id) {
            Ok(()) => Some(id.clone()),
            Err(message) => {
                problem("id", message);
                None
            }
        },
        Some(_) => {
            problem("id", "must be a string such as \"cn-no-exclusive\"".into());
            None
        }
    };
    let version = match fields.get("version") {
        None => {
            problem("version", "is required (1 for a new rule)".into());
            None
        }
        Some(toml::Value::Integer(v)) => match u32::try_from(*v) {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                problem(
                    "version",
                    format!("must be a whole number from 1 to {}", u32::MAX),
                );
                None
            }
        },
        Some(_) => {
            problem("version", "must be a whole number such as 1".into());
            None
        }
    };
    let territory = match fields.get("territory") {
        None => {
            problem("territory", "is required".into());
            None
        }
        Some(toml::Value::String(code)) if code.eq_ignore_ascii_case(WORLDWIDE) => {
            problem(
                "territory",
                "must be one ISO 3166-1 alpha-2 code; a rule for the whole world is not supported"
                    .into(),
            );
            None
        }
        Some(toml::Value::String(code)) => match Territory::parse(code) {
            Ok(t) => Some(t),
            Err(e) => {
                problem("territory", e.to_string());
                None
            }
        },
        Some(_) => {
            problem("territory", "must be a string such as \"CN\"".into());
            None
        }
    };
    let kind = match fields.get("kind") {
        None => {
            problem("kind", "is required: no_exclusive or prepayment_cap".into());
            None
        }
        Some(toml::Value::String(kind)) => match kind.parse::<RuleKind>() {
            Ok(kind) => Some(kind),
            Err(e) => {
                problem("kind", e.to_string());
                None
            }
        },
        Some(_) => {
            problem(
                "kind",
                "must be a string: no_exclusive or prepayment_cap".into(),
            );
            None
        }
    };
    let max_percent = match (kind, fields.get("max_percent")) {
        (Some(RuleKind::PrepaymentCap), None) => {
            problem(
                "max_percent",
                "is required for a prepayment_cap rule: a decimal string such as \"30\"".into(),
            );
            None
        }
        (Some(RuleKind::PrepaymentCap), Some(value)) => match parse_percent(value) {
            Ok(p) => Some(p),
            Err(message) => {
                problem("max_percent", message);
                None
            }
        },
        (Some(RuleKind::NoExclusive), Some(_)) => {
            problem(
                "max_percent",
                "does not apply to a no_exclusive rule; remove it".into(),
            );
            None
        }
        _ => None,
    };
    let effective_from = match fields.get("effective_from") {
        None => {
            problem(
                "effective_from",
                "is required: the first day the rule applies to, such as \"2021-08-31\"".into(),
            );
            None
        }
        Some(value) => match parse_date(value) {
            Ok(d) => Some(d),
            Err(message) => {
                problem("effective_from", message);
                None
            }
        },
    };
    let effective_until = match fields.get("effective_until") {
        None => Ok(None),
        Some(value) => match parse_date(value) {
            Ok(d) => Ok(Some(d)),
            Err(message) => {
                problem("effective_until", message);
                Err(())
            }
        },
    };
    if let (Some(from), Ok(Some(until))) = (effective_from, effective_until) {
        if until < from {
            problem(
                "effective_until",
                format!("is before effective_from ({from}); both days are inclusive"),
            );
        }
    }
    let description = match fields.get("description") {
        None => None,
        Some(toml::Value::String(text)) => {
            let text = text.trim();
            if text.chars().count() > MAX_DESCRIPTION_CHARS {
                problem(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                );
            } else if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                problem(
                    "description",
                    "must not contain control characters other than tab and line feed".into(),
                );
            }
            (!text.is_empty()).then(|| text.to_string())
        }
        Some(_) => {
            problem("description", "must be a string".into());
            None
        }
    };
    let constraint = match (kind, max_percent) {
        (Some(RuleKind::NoExclusive), _) => Some(Constraint::NoExclusive),
        (Some(RuleKind::PrepaymentCap), Some(max_percent)) => {
            Some(Constraint::PrepaymentCap { max_percent })
        }
        _ => None,
    };
    match (
        id,
        version,
        territory,
        constraint,
        effective_from,
        effective_until,
    ) {
        (
            Some(id),
            Some(version),
            Some(territory),
            Some(constraint),
            Some(effective_from),
            Ok(effective_until),
        ) if problems.is_empty() => Ok(MarketRule {
            id,
            version,
            territory,
            constraint,
            effective_from,
            effective_until,
            description,
        }),
        _ => Err(problems),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(format!("must be at most {MAX_ID_CHARS} characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "`{id}` may only hold lowercase letters a-z, digits and `-`"
        ));
    }
    Ok(())
}

/// A percentage from 0 to 100: a decimal string, or a TOML integer. Never a float.
fn parse_percent(value: &toml::Value) -> Result<Decimal, String> {
    let percent = match value {
        toml::Value::String(text) => parse_non_negative_decimal(text, PERCENT_MAX_DECIMALS)
            .map_err(|e| {
                format!(
                    "{e} (a decimal string from 0 to 100, at most {PERCENT_MAX_DECIMALS} decimals)"
                )
            })?,
        toml::Value::Integer(n) => Decimal::from(*n),
        toml::Value::Float(_) => {
            return Err(
                "must be a decimal string such as \"30\" or \"12.5\", not a TOML float: \
                 market rules never pass through binary floating point"
                    .into(),
            )
        }
        _ => return Err("must be a decimal string such as \"30\"".into()),
    };
    if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
        return Err(format!("must be between 0 and 100, not {percent}"));
    }
    Ok(percent)
}

/// A calendar date: `"2021-08-31"` or the TOML local date `2021-08-31`.
fn parse_date(value: &toml::Value) -> Result<NaiveDate, String> {
    const EXPECTED: &str = "must be a date such as \"2021-08-31\" (YYYY-MM-DD)";
    match value {
        toml::Value::String(text) => {
            let valid_shape = text.len() == 10
                && text.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            if !valid_shape {
                return Err(format!("{EXPECTED}, not `{text}`"));
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("`{text}` is not a calendar date"))
        }
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                    .ok_or_else(|| format!("`{dt}` is not a calendar date"))
            }
            _ => Err(format!("{EXPECTED}, without a time: `{dt}`")),
        },
        _ => Err(EXPECTED.into()),
    }
}

#[cfg(test)]
mod tests;
