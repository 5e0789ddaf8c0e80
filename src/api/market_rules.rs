//! The market rules in force: what regulators forbid per territory, as the operator
//! configured them (`CADENZA_MARKET_RULES`, docs/operations.md "Market rules"). Read
//! only: the rules change with the operator's file, never through the API. They are
//! enforced on offers and on every deal step that proposes, accepts or signs terms.

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::problem::ApiError;
use super::state::AppState;
use crate::domain::market_rules::{MarketRule, MarketRules, RuleKind};
use crate::domain::territory::Territory;

/// The ruleset: every rule the server enforces, and its version.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarketRulesView {
    /// Lowercase hex SHA-256 of the canonical rules: changes whenever any rule changes
    /// (not with comments, formatting or order in the file). Nodes serving the same
    /// rules report the same version. With no rules, the SHA-256 of `[]`.
    #[schema(example = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")]
    pub version: String,
    /// Sorted by id. Empty when the operator configured none.
    pub rules: Vec<MarketRuleView>,
}

/// One market rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarketRuleView {
    /// Stable id (`cn-no-exclusive`), quoted by every refusal.
    #[schema(example = "cn-no-exclusive")]
    pub id: String,
    /// Bumped by the operator when the rule changes; quoted by every refusal (`v1`).
    #[schema(minimum = 1, example = 1)]
    pub version: u32,
    pub territory: Territory,
    /// `no_exclusive`: exclusive grants are forbidden. `prepayment_cap`: what falls due
    /// on or before the start date is at most `parameters.max_percent` % of upfront fee
    /// + minimum guarantee.
    pub kind: RuleKind,
    pub parameters: RuleParametersView,
    /// The rule applies to every term sheet whose period reaches this day or later.
    #[schema(example = "2021-08-31")]
    pub effective_from: NaiveDate,
    /// Last day of the rule's window, inclusive; null: open-ended.
    pub effective_until: Option<NaiveDate>,
    #[schema(example = "SAMR order of 2021-07-24: no exclusive music licences")]
    pub description: Option<String>,
}

/// The kind's parameters (none for `no_exclusive`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleParametersView {
    /// `prepayment_cap` only: the cap in percent, a decimal string from 0 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "30")]
    pub max_percent: Option<String>,
}

impl From<&MarketRule> for MarketRuleView {
    fn from(rule: &MarketRule) -> Self {
        MarketRuleView {
            id: rule.id().to_string(),
            version: rule.version(),
            territory: rule.territory(),
            kind: rule.kind(),
            parameters: RuleParametersView {
                max_percent: rule.constraint().max_percent().map(|p| p.to_string()),
            },
            effective_from: rule.effective_from(),
            effective_until: rule.effective_until(),
            description: rule.description().map(str::to_string),
        }
    }
}

impl From<&MarketRules> for MarketRulesView {
    fn from(rules: &MarketRules) -> Self {
        MarketRulesView {
            version: rules.version().to_string(),
            rules: rules.rules().iter().map(MarketRuleView::from).collect(),
        }
    }
}

/// The market rules in force, with the ruleset's version. Terms that break one are
/// refused with 422 (`terms.exclusive` or `terms.installments`, and `market_rules`
/// naming each rule) when an offer is created or published, and when a deal is opened,
/// submitted, countered, accepted or signed. Not paginated: the ruleset is one
/// versioned document (at most 1,000 rules). Any member may read it.
#[utoipa::path(tag = "market-rules", security(("bearer" = [])), responses(
    (status = 200, body = MarketRulesView),
))]
#[get("/market-rules")]
pub async fn list_market_rules(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(MarketRulesView::from(state.market_rules.as_ref())))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_market_rules);
}
