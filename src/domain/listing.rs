//! Listings: offers (a licensor lists a slice with asking terms) and requests
//! (a licensee lists the music it wants), as pure rules — their lifecycles, the
//! actions each state allows, who may see them, and when an offer answers a
//! request. The operations that apply these rules are `crate::marketplace`.
//!
//! ```text
//! offer    draft     ─publish (author, before expiry) ─▶ published
//! offer    draft, published ─withdraw (author) ────────▶ withdrawn
//! offer    draft, published ─expire (system) ──────────▶ expired
//! request  open      ─withdraw (author) ───────────────▶ withdrawn
//! request  open      ─close (a deal answering it executed) ▶ closed
//! request  open      ─expire (system) ─────────────────▶ expired
//! ```
//!
//! Withdrawn, expired and closed listings accept nothing. Only published offers
//! and open requests are visible to other organizations (see `docs/marketplace.md`).

use serde::{Deserialize, Serialize};

use super::period::Period;
use super::stored::stored_enum;
use super::territory::Territories;
use super::usage::Usages;

/// Where an offer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    /// Written, not yet in the marketplace.
    Draft,
    /// In the marketplace until its expiry.
    Published,
    /// Taken off the marketplace by its author (terminal).
    Withdrawn,
    /// Its expiry passed (terminal).
    Expired,
}

stored_enum! {
    OfferState { Draft = "draft", Published = "published", Withdrawn = "withdrawn", Expired = "expired" }
    unknown struct UnknownOfferState = "unknown offer state `{0}`"
}

/// What an offer's author asks to do to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferAction {
    Publish,
    Withdraw,
}

stored_enum! {
    OfferAction { Publish = "publish", Withdraw = "withdraw" }
    unknown struct UnknownOfferAction = "unknown offer action `{0}`"
}

impl OfferAction {
    /// The past participle, as refusals say it ("cannot be published").
    pub fn done(self) -> &'static str {
        match self {
            OfferAction::Publish => "published",
            OfferAction::Withdraw => "withdrawn",
        }
    }
}

impl OfferState {
    /// The states an action may start from.
    pub fn sources(action: OfferAction) -> &'static [OfferState] {
        match action {
            OfferAction::Publish => &[OfferState::Draft],
            OfferAction::Withdraw => &[OfferState::Draft, OfferState::Published],
        }
    }

    /// The actions the author may take now, the move that advances the offer first.
    pub fn allowed_actions(self) -> Vec<OfferAction> {
        OfferAction::ALL
            .into_iter()
            .filter(|a| OfferState::sources(*a).contains(&self))
            .collect()
    }

    /// Where `action` leads from this state; `None` when it is not allowed.
    pub fn apply(self, action: OfferAction) -> Option<OfferState> {
        OfferState::sources(action)
            .contains(&self)
            .then_some(match action {
                OfferAction::Publish => OfferState::Published,
                OfferAction::Withdraw => OfferState::Withdrawn,
            })
    }

    /// The states the sweeper expires once the expiry has passed.
    pub const EXPIRABLE: [OfferState; 2] = [OfferState::Draft, OfferState::Published];
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Visible and answerable until its expiry.
    Open,
    /// A deal answering it executed (terminal).
    Closed,
    /// Taken off the marketplace by its author (terminal).
    Withdrawn,
    /// Its expiry passed (terminal).
    Expired,
}

stored_enum! {
    RequestState { Open = "open", Closed = "closed", Withdrawn = "withdrawn", Expired = "expired" }
    unknown struct UnknownRequestState = "unknown request state `{0}`"
}

/// What a request's author asks to do to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestAction {
    Withdraw,
}

stored_enum! {
    RequestAction { Withdraw = "withdraw" }
    unknown struct UnknownRequestAction = "unknown request action `{0}`"
}

impl RequestAction {
    /// The past participle, as refusals say it ("cannot be withdrawn").
    pub fn done(self) -> &'static str {
        match self {
            RequestAction::Withdraw => "withdrawn",
        }
    }
}

impl RequestState {
    /// The states an action may start from.
    pub fn sources(action: RequestAction) -> &'static [RequestState] {
        match action {
            RequestAction::Withdraw => &[RequestState::Open],
        }
    }

    /// The actions the author may take now.
    pub fn allowed_actions(self) -> Vec<RequestAction> {
        RequestAction::ALL
            .into_iter()
            .filter(|a| RequestState::sources(*a).contains(&self))
            .collect()
    }

    /// Where `action` leads from this state; `None` when it is not allowed.
    pub fn apply(self, action: RequestAction) -> Option<RequestState> {
        RequestState::sources(action)
            .contains(&self)
            .then_some(match action {
                RequestAction::Withdraw => RequestState::Withdrawn,
            })
    }
}

/// Who may see a listing besides its author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every organization.
    Public,
    /// Only the organizations it is targeted at.
    Targeted,
}

stored_enum! {
    Visibility { Public = "public", Targeted = "targeted" }
    unknown struct UnknownVisibility = "unknown visibility `{0}`"
}

/// A validated audience: who may see a listing, and the organizations a
/// targeted one is meant for (never the author's own, which always sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub visibility: Visibility,
    pub targets: Vec<String>,
}

/// What a listing is for: where, how and when (an offer's asking terms, or what
/// a request asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
}

/// Whether an offer of scope `offer` can license everything a request of scope
/// `request` asks for: every territory, every usage, and the whole period.
pub fn offer_covers(offer: &Scope, request: &Scope) -> bool {
    offer.territories.covers(&request.territories)
        && offer.usages.covers(&request.usages)
        && offer.period.start <= request.period.start
        && request.period.end <= offer.period.end
}

/// An amount in minor units of a currency (an asking price, a budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price<'a> {
    pub currency: &'a str,
    pub minor: i64,
}

/// Whether an asking price fits a budget: unknown without a budget or across
/// currencies (prices in different currencies do not compare).
pub fn within_budget(asking: Price<'_>, budget: Option<Price<'_>>) -> Option<bool> {
    match budget {
        Some(budget) if budget.currency == asking.currency => Some(asking.minor <= budget.minor),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn scope(territories: &str, usages: &str, start: (i32, u32), end: (i32, u32)) -> Scope {
        let date = |(y, m): (i32, u32)| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        Scope {
            territories: serde_json::from_str(territories).unwrap(),
            usages: serde_json::from_str(usages).unwrap(),
            period: Period::new(date(start), date(end)).unwrap(),
        }
    }

    #[test]
    fn offer_actions_follow_the_lifecycle() {
        use OfferAction::*;
        use OfferState::*;
        assert_eq!(Draft.allowed_actions(), vec![Publish, Withdraw]);
        assert_eq!(Published.allowed_actions(), vec![Withdraw]);
        assert!(Withdrawn.allowed_actions().is_empty());
        assert!(Expired.allowed_actions().is_empty());
        assert_eq!(Draft.apply(Publish), Some(Published));
        assert_eq!(Published.apply(Publish), None);
        assert_eq!(Published.apply(Withdraw), Some(Withdrawn));
        assert_eq!(Expired.apply(Withdraw), None);
    }

    #[test]
    fn request_actions_follow_the_lifecycle() {
        use RequestState::*;
        assert_eq!(Open.apply(RequestAction::Withdraw), Some(Withdrawn));
        for state in [Closed, Withdrawn, Expired] {
            assert_eq!(state.apply(RequestAction::Withdraw), None);
            assert!(state.allowed_actions().is_empty());
        }
    }

    #[test]
    fn stored_names_round_trip() {
        for s in OfferState::ALL {
            assert_eq!(s.as_str().parse::<OfferState>(), Ok(s));
        }
        for s in RequestState::ALL {
            assert_eq!(s.as_str().parse::<RequestState>(), Ok(s));
        }
        assert!("open".parse::<OfferState>().is_err());
        assert_eq!("targeted".parse::<Visibility>(), Ok(Visibility::Targeted));
    }

    #[test]
    fn an_offer_covers_a_request_within_its_scope() {
        let offer = scope(
            r#"["worldwide"]"#,
            r#"["interactive_streaming","download"]"#,
            (2027, 1),
            (2029, 12),
        );
        let inside = scope(r#"["CN"]"#, r#"["download"]"#, (2027, 6), (2028, 6));
        let too_long = scope(r#"["CN"]"#, r#"["download"]"#, (2027, 6), (2030, 6));
        let other_usage = scope(r#"["CN"]"#, r#"["sync"]"#, (2027, 6), (2028, 6));
        assert!(offer_covers(&offer, &inside));
        assert!(!offer_covers(&offer, &too_long));
        assert!(!offer_covers(&offer, &other_usage));
        assert!(!offer_covers(&inside, &offer));
    }

    #[test]
    fn budgets_compare_in_one_currency_only() {
        let asking = Price {
            currency: "USD",
            minor: 100,
        };
        assert_eq!(within_budget(asking, None), None);
        assert_eq!(
            within_budget(
                asking,
                Some(Price {
                    currency: "EUR",
                    minor: 1_000
                })
            ),
            None
        );
        assert_eq!(
            within_budget(
                asking,
                Some(Price {
                    currency: "USD",
                    minor: 100
                })
            ),
            Some(true)
        );
        assert_eq!(
            within_budget(
                asking,
                Some(Price {
                    currency: "USD",
                    minor: 99
                })
            ),
            Some(false)
        );
    }
}
