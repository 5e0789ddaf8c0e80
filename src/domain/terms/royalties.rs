//! The royalty terms of a term sheet (`royalties`): advance, minimum guarantee,
//! revenue share with its carve-out, floors, how they combine, the accounting
//! calendar and when statements are due. Parsed into the
//! [`Economics`](crate::domain::royalty::Economics) statements are computed from.
//!
//! A term sheet either carries `royalties` or the earlier flat fields
//! (`minimum_guarantee`, `per_stream_rate`, `revenue_share_percent`), never
//! both: two ways to say one thing in a contract is one too many. Term sheets
//! without `royalties` keep their meaning (`Economics::from_earlier_terms`) and
//! their hash (the key is absent from their canonical JSON, not `null`).

use super::*;
use crate::domain::royalty::{
    AccountingPeriod, Advance, Combination, Economics, GuaranteeScope, MinimumGuarantee,
    RevenueShare,
};

/// Longest statement due delay, in days after the period ends.
pub const MAX_STATEMENT_DUE_DAYS: u32 = 365;

/// The royalty terms as sent. Enumerations are strings, so a misspelt one is
/// reported on its field like any other value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoyaltyTermsInput {
    /// Paid ahead by the installment schedule (installments add up to
    /// `upfront_fee + royalties.advance.amount`).
    #[serde(default)]
    pub advance: Option<AdvanceInput>,
    #[serde(default)]
    pub minimum_guarantee: Option<GuaranteeInput>,
    #[serde(default)]
    pub revenue_share: Option<RevenueShareInput>,
    /// Amount per licensed stream, up to 10 decimals.
    #[serde(default)]
    #[schema(example = "0.00225")]
    pub per_stream_floor: Option<String>,
    /// Amount per subscriber reported on a line, up to 10 decimals.
    #[serde(default)]
    #[schema(example = json!(null))]
    pub per_subscriber_floor: Option<String>,
    /// `greater_of` (the revenue share and each floor) or `sum`.
    #[schema(example = "greater_of")]
    pub combination: String,
    /// `monthly` or `quarterly` (calendar quarters).
    #[schema(example = "quarterly")]
    pub accounting_period: String,
    /// Days after a period ends by which its statement is due (0 to 365).
    #[schema(example = 45)]
    #[serde(deserialize_with = "due_days")]
    pub statement_due_days: u32,
}

/// A whole number of days, as a JSON number or, as the canonical terms (which
/// hold no JSON numbers) store it, a decimal string.
fn due_days<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Days {
        Number(u32),
        Text(String),
    }
    match Days::deserialize(deserializer)? {
        Days::Number(n) => Ok(n),
        Days::Text(text) => text.parse().map_err(|_| {
            serde::de::Error::custom(format!("`{text}` is not a whole number of days"))
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceInput {
    /// Decimal string, at most the currency's minor units, greater than 0.
    #[schema(example = "100000.00")]
    pub amount: String,
    /// Recouped from royalties before any is payable; otherwise it is a fee.
    pub recoupable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuaranteeInput {
    /// Decimal string, at most the currency's minor units, greater than 0.
    #[schema(example = "150000.00")]
    pub amount: String,
    /// `period` (each accounting period) or `term` (the whole term).
    #[schema(example = "term")]
    pub per: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevenueShareInput {
    /// Percent of the base, above 0 and at most 100, up to 4 decimals.
    #[schema(example = "60")]
    pub percent: String,
    /// Percent of gross revenue taken off before the share (an advertising-sales
    /// deduction, say), 0 to below 100, up to 4 decimals; absent means 0.
    #[serde(default)]
    #[schema(example = json!(null))]
    pub carve_out_percent: Option<String>,
}

fn combination_name(c: Combination) -> &'static str {
    match c {
        Combination::GreaterOf => "greater_of",
        Combination::Sum => "sum",
    }
}

fn period_name(p: AccountingPeriod) -> &'static str {
    match p {
        AccountingPeriod::Monthly => "monthly",
        AccountingPeriod::Quarterly => "quarterly",
    }
}

fn scope_name(s: GuaranteeScope) -> &'static str {
    match s {
        GuaranteeScope::PerPeriod => "period",
        GuaranteeScope::Term => "term",
    }
}

/// A positive amount in the terms' currency (shape only when it is unknown).
fn positive(amount: &dyn Fn(&str) -> Result<Decimal, String>, s: &str) -> Result<Decimal, String> {
    match amount(s)? {
        v if v.is_zero() => Err("must be greater than 0".to_string()),
        v => Ok(v),
    }
}

/// Parses `royalties`, every problem pushed under `royalties.…`; `None` when
/// any is invalid (or the currency is unknown, which is reported on its own).
pub(super) fn parse_royalties(
    errors: &mut ValidationErrors,
    input: &RoyaltyTermsInput,
    currency: Option<Currency>,
    amount: &dyn Fn(&str) -> Result<Decimal, String>,
) -> Option<Economics> {
    let before = errors.0.len();
    let mut check = |field: &str, result: Result<Decimal, String>| {
        required(errors, &format!("royalties.{field}"), result)
    };
    let advance = input.advance.as_ref().map(|a| {
        check("advance.amount", positive(amount, &a.amount)).map(|amount| Advance {
            amount,
            recoupable: a.recoupable,
        })
    });
    let guarantee_amount = input
        .minimum_guarantee
        .as_ref()
        .map(|g| check("minimum_guarantee.amount", positive(amount, &g.amount)));
    let share = input.revenue_share.as_ref().map(|s| {
        let percent = check(
            "revenue_share.percent",
            parse_percent(&s.percent).and_then(|p| {
                if p.is_zero() {
                    Err("must be greater than 0".to_string())
                } else {
                    Ok(p)
                }
            }),
        );
        let carve_out = check(
            "revenue_share.carve_out_percent",
            s.carve_out_percent
                .as_deref()
                .map_or(Ok(Decimal::ZERO), parse_percent)
                .and_then(|p| {
                    if p >= Decimal::ONE_HUNDRED {
                        Err("must be below 100: nothing would be left to share".to_string())
                    } else {
                        Ok(p)
                    }
                }),
        );
        percent
            .zip(carve_out)
            .map(|(percent, carve_out_percent)| RevenueShare {
                percent,
                carve_out_percent,
            })
    });
    let per_stream_floor = input
        .per_stream_floor
        .as_deref()
        .map(|s| check("per_stream_floor", Currency::parse_rate(s)));
    let per_subscriber_floor = input
        .per_subscriber_floor
        .as_deref()
        .map(|s| check("per_subscriber_floor", Currency::parse_rate(s)));
    let combination = match input.combination.as_str() {
        "greater_of" => Some(Combination::GreaterOf),
        "sum" => Some(Combination::Sum),
        other => {
            errors.push(
                "royalties.combination",
                format!("must be `greater_of` or `sum` (got `{other}`)"),
            );
            None
        }
    };
    let accounting_period = match input.accounting_period.as_str() {
        "monthly" => Some(AccountingPeriod::Monthly),
        "quarterly" => Some(AccountingPeriod::Quarterly),
        other => {
            errors.push(
                "royalties.accounting_period",
                format!("must be `monthly` or `quarterly` (got `{other}`)"),
            );
            None
        }
    };
    let scope = input
        .minimum_guarantee
        .as_ref()
        .map(|g| match g.per.as_str() {
            "period" => Some(GuaranteeScope::PerPeriod),
            "term" => Some(GuaranteeScope::Term),
            other => {
                errors.push(
                    "royalties.minimum_guarantee.per",
                    format!("must be `period` or `term` (got `{other}`)"),
                );
                None
            }
        });
    if input.statement_due_days > MAX_STATEMENT_DUE_DAYS {
        errors.push(
            "royalties.statement_due_days",
            format!("must be at most {MAX_STATEMENT_DUE_DAYS}"),
        );
    }
    let earns = share.is_some() || per_stream_floor.is_some() || per_subscriber_floor.is_some();
    let guarantees =
        guarantee_amount.is_some() || advance.is_some_and(|a| a.is_some_and(|a| a.recoupable));
    if !earns && guarantees {
        errors.push(
            "royalties",
            "a minimum guarantee or a recoupable advance needs royalties to measure against: \
             add revenue_share, per_stream_floor or per_subscriber_floor",
        );
    }
    if errors.0.len() > before {
        return None;
    }
    let minimum_guarantee = match (guarantee_amount, scope) {
        (Some(Some(amount)), Some(Some(scope))) => Some(MinimumGuarantee { amount, scope }),
        _ => None,
    };
    Some(Economics {
        currency: currency?,
        advance: advance.flatten(),
        minimum_guarantee,
        revenue_share: share.flatten(),
        per_stream_floor: per_stream_floor.flatten(),
        per_subscriber_floor: per_subscriber_floor.flatten(),
        combination: combination?,
        accounting_period: accounting_period?,
        statement_due_days: input.statement_due_days,
    })
}

/// The royalty terms in the input shape, canonically spelled.
pub(super) fn royalties_input(e: &Economics) -> RoyaltyTermsInput {
    let currency = e.currency;
    RoyaltyTermsInput {
        advance: e.advance.map(|a| AdvanceInput {
            amount: currency.format_amount(a.amount),
            recoupable: a.recoupable,
        }),
        minimum_guarantee: e.minimum_guarantee.map(|g| GuaranteeInput {
            amount: currency.format_amount(g.amount),
            per: scope_name(g.scope).to_string(),
        }),
        revenue_share: e.revenue_share.map(|s| RevenueShareInput {
            percent: format_rate(s.percent),
            carve_out_percent: Some(format_rate(s.carve_out_percent)),
        }),
        per_stream_floor: e.per_stream_floor.map(format_rate),
        per_subscriber_floor: e.per_subscriber_floor.map(format_rate),
        combination: combination_name(e.combination).to_string(),
        accounting_period: period_name(e.accounting_period).to_string(),
        statement_due_days: e.statement_due_days,
    }
}

/// The canonical JSON value of the royalty terms: every key present (absent
/// optionals `null`), no numbers (the due days are a decimal string).
pub(super) fn royalties_value(input: RoyaltyTermsInput) -> Value {
    let text = |s: String| Value::String(s);
    let optional = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    };
    object(vec![
        (
            "advance",
            input.advance.map_or(Value::Null, |a| {
                object(vec![
                    ("amount", text(a.amount)),
                    ("recoupable", Value::Bool(a.recoupable)),
                ])
            }),
        ),
        (
            "minimum_guarantee",
            input.minimum_guarantee.map_or(Value::Null, |g| {
                object(vec![("amount", text(g.amount)), ("per", text(g.per))])
            }),
        ),
        (
            "revenue_share",
            input.revenue_share.map_or(Value::Null, |s| {
                object(vec![
                    ("carve_out_percent", optional(s.carve_out_percent)),
                    ("percent", text(s.percent)),
                ])
            }),
        ),
        ("per_stream_floor", optional(input.per_stream_floor)),
        ("per_subscriber_floor", optional(input.per_subscriber_floor)),
        ("combination", text(input.combination)),
        ("accounting_period", text(input.accounting_period)),
        (
            "statement_due_days",
            text(input.statement_due_days.to_string()),
        ),
    ])
}
