//! What can happen that users are told about. Each [`Event`] variant is one
//! notification kind and carries exactly the variables its templates use, so a
//! template can never be rendered with a missing variable from a typed event.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

// The kinds live in the domain (storage reads and writes them); re-exported here
// because every event names one.
pub use crate::domain::notification::NotificationKind;

/// A deal as mails name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealRef {
    pub id: String,
    pub name: String,
}

/// Who did it: a person and their organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub name: String,
    pub organization: String,
}

/// One changed term of a counter-offer, formatted for people (`"CN, HK"`, `"1000000.00 CNY"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TermChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// An installment of a payment schedule; the amount is the exact decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstallmentRef {
    pub id: String,
    pub due_date: NaiveDate,
    pub amount: String,
    pub currency: String,
}

/// A royalty statement as mails name it: its period, its due date and the amount
/// (payable when issued or confirmed, the balance when due or overdue) as the exact
/// decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementRef {
    pub id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub due_date: NaiveDate,
    pub amount: String,
    pub currency: String,
}

/// An offer or a request, as mails name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListingRef {
    pub id: String,
    pub name: String,
}

/// One event, with everything its templates show. Serialized (tagged by `kind`)
/// it is both the template context and the feed row's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    DealSubmitted {
        deal: DealRef,
        actor: Actor,
        revision: u32,
        respond_by: Option<DateTime<Utc>>,
    },
    DealCountered {
        deal: DealRef,
        actor: Actor,
        revision: u32,
        changes: Vec<TermChange>,
        respond_by: Option<DateTime<Utc>>,
    },
    DealAccepted {
        deal: DealRef,
        actor: Actor,
        revision: u32,
    },
    DealRejected {
        deal: DealRef,
        actor: Actor,
        reason: Option<String>,
    },
    DealWithdrawn {
        deal: DealRef,
        actor: Actor,
        reason: Option<String>,
    },
    DealExpiring {
        deal: DealRef,
        respond_by: DateTime<Utc>,
    },
    DealExpired {
        deal: DealRef,
        respond_by: DateTime<Utc>,
    },
    /// One side signed; the deal executes when the other side signs too.
    DealSigned {
        deal: DealRef,
        actor: Actor,
        revision: u32,
    },
    DealExecuted {
        deal: DealRef,
        grant_id: String,
        track_count: u64,
        territories: Vec<String>,
        start_date: NaiveDate,
        end_date: NaiveDate,
    },
    DealTerminated {
        deal: DealRef,
        actor: Actor,
        reason: Option<String>,
    },
    /// A grant's rights lost (some of) their backing up the chain of title.
    GrantBackingLost {
        deal: DealRef,
        grant_id: String,
        upstream_grant_id: Option<String>,
        track_count: u64,
        lost_from: NaiveDate,
        detail: String,
    },
    InstallmentDue {
        deal: DealRef,
        installment: InstallmentRef,
    },
    InstallmentOverdue {
        deal: DealRef,
        installment: InstallmentRef,
        days_overdue: i64,
    },
    /// A statement was computed from a (corrected) usage report; the licensor reviews it.
    StatementIssued {
        deal: DealRef,
        statement: StatementRef,
        actor: Actor,
        /// It replaces a statement of the same period (after a corrected report).
        corrected: bool,
    },
    StatementDisputed {
        deal: DealRef,
        statement: StatementRef,
        actor: Actor,
        reason: String,
    },
    StatementConfirmed {
        deal: DealRef,
        statement: StatementRef,
        actor: Actor,
    },
    StatementDue {
        deal: DealRef,
        statement: StatementRef,
    },
    StatementOverdue {
        deal: DealRef,
        statement: StatementRef,
        days_overdue: i64,
    },
    OfferMatchedRequest {
        offer: ListingRef,
        request: ListingRef,
        licensor: String,
        track_count: u64,
    },
}

impl Event {
    pub fn kind(&self) -> NotificationKind {
        match self {
            Event::DealSubmitted { .. } => NotificationKind::DealSubmitted,
            Event::DealCountered { .. } => NotificationKind::DealCountered,
            Event::DealAccepted { .. } => NotificationKind::DealAccepted,
            Event::DealRejected { .. } => NotificationKind::DealRejected,
            Event::DealWithdrawn { .. } => NotificationKind::DealWithdrawn,
            Event::DealExpiring { .. } => NotificationKind::DealExpiring,
            Event::DealExpired { .. } => NotificationKind::DealExpired,
            Event::DealSigned { .. } => NotificationKind::DealSigned,
            Event::DealExecuted { .. } => NotificationKind::DealExecuted,
            Event::DealTerminated { .. } => NotificationKind::DealTerminated,
            Event::GrantBackingLost { .. } => NotificationKind::GrantBackingLost,
            Event::InstallmentDue { .. } => NotificationKind::InstallmentDue,
            Event::InstallmentOverdue { .. } => NotificationKind::InstallmentOverdue,
            Event::StatementIssued { .. } => NotificationKind::StatementIssued,
            Event::StatementDisputed { .. } => NotificationKind::StatementDisputed,
            Event::StatementConfirmed { .. } => NotificationKind::StatementConfirmed,
            Event::StatementDue { .. } => NotificationKind::StatementDue,
            Event::StatementOverdue { .. } => NotificationKind::StatementOverdue,
            Event::OfferMatchedRequest { .. } => NotificationKind::OfferMatchedRequest,
        }
    }

    /// What the event is about, for the feed (`deal`/`request` and its id).
    pub fn subject(&self) -> (&'static str, &str) {
        match self {
            Event::DealSubmitted { deal, .. }
            | Event::DealCountered { deal, .. }
            | Event::DealAccepted { deal, .. }
            | Event::DealRejected { deal, .. }
            | Event::DealWithdrawn { deal, .. }
            | Event::DealExpiring { deal, .. }
            | Event::DealExpired { deal, .. }
            | Event::DealSigned { deal, .. }
            | Event::DealExecuted { deal, .. }
            | Event::DealTerminated { deal, .. }
            | Event::GrantBackingLost { deal, .. }
            | Event::InstallmentDue { deal, .. }
            | Event::InstallmentOverdue { deal, .. }
            | Event::StatementIssued { deal, .. }
            | Event::StatementDisputed { deal, .. }
            | Event::StatementConfirmed { deal, .. }
            | Event::StatementDue { deal, .. }
            | Event::StatementOverdue { deal, .. } => ("deal", &deal.id),
            Event::OfferMatchedRequest { request, .. } => ("request", &request.id),
        }
    }

    /// One line for the feed, below the title.
    pub fn summary(&self) -> String {
        match self {
            Event::DealSubmitted {
                actor, revision, ..
            } => {
                format!("{} proposed terms (revision {revision}).", actor.name)
            }
            Event::DealCountered {
                actor,
                revision,
                changes,
                ..
            } => format!(
                "{} countered with revision {revision}: {} changed.",
                actor.name,
                match changes.len() {
                    1 => "1 term".to_string(),
                    n => format!("{n} terms"),
                }
            ),
            Event::DealAccepted {
                actor, revision, ..
            } => format!(
                "{} accepted revision {revision}; it is ready to sign.",
                actor.name
            ),
            Event::DealRejected { actor, reason, .. } => match reason {
                Some(reason) => format!("{} rejected the deal: {reason}", actor.name),
                None => format!("{} rejected the deal.", actor.name),
            },
            Event::DealWithdrawn { actor, .. } => format!("{} withdrew the deal.", actor.name),
            Event::DealExpiring { respond_by, .. } => format!(
                "The deal expires at {} without an answer.",
                respond_by.format("%Y-%m-%d %H:%M UTC")
            ),
            Event::DealExpired { .. } => "The deal expired without an answer.".to_string(),
            Event::DealSigned {
                actor, revision, ..
            } => format!("{} signed revision {revision}.", actor.name),
            Event::DealExecuted {
                track_count,
                start_date,
                end_date,
                ..
            } => {
                format!("Executed: {track_count} tracks licensed from {start_date} to {end_date}.")
            }
            Event::DealTerminated { actor, .. } => {
                format!("{} terminated the deal.", actor.name)
            }
            Event::GrantBackingLost {
                track_count,
                lost_from,
                ..
            } => format!("{track_count} licensed tracks lose their backing from {lost_from}."),
            Event::InstallmentDue { installment, .. } => format!(
                "{} {} due on {}.",
                installment.amount, installment.currency, installment.due_date
            ),
            Event::InstallmentOverdue {
                installment,
                days_overdue,
                ..
            } => format!(
                "{} {} was due on {} ({days_overdue} days overdue).",
                installment.amount, installment.currency, installment.due_date
            ),
            Event::StatementIssued {
                statement,
                actor,
                corrected,
                ..
            } => format!(
                "{} reported {} to {}{}: {} {} payable, to review.",
                actor.name,
                statement.period_start,
                statement.period_end,
                if *corrected { " (corrected)" } else { "" },
                statement.amount,
                statement.currency
            ),
            Event::StatementDisputed {
                statement,
                actor,
                reason,
                ..
            } => format!(
                "{} disputed the statement for {} to {}: {reason}",
                actor.name, statement.period_start, statement.period_end
            ),
            Event::StatementConfirmed {
                statement, actor, ..
            } => format!(
                "{} confirmed the statement for {} to {}: {} {} due on {}.",
                actor.name,
                statement.period_start,
                statement.period_end,
                statement.amount,
                statement.currency,
                statement.due_date
            ),
            Event::StatementDue { statement, .. } => format!(
                "Royalties of {} {} for {} to {} are due on {}.",
                statement.amount,
                statement.currency,
                statement.period_start,
                statement.period_end,
                statement.due_date
            ),
            Event::StatementOverdue {
                statement,
                days_overdue,
                ..
            } => format!(
                "Royalties of {} {} for {} to {} were due on {} ({days_overdue} days overdue).",
                statement.amount,
                statement.currency,
                statement.period_start,
                statement.period_end,
                statement.due_date
            ),
            Event::OfferMatchedRequest {
                licensor,
                track_count,
                ..
            } => format!("{licensor} offers {track_count} tracks that match your request."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_match_their_serde_names() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(NotificationKind::parse("invitation"), None);
    }

    #[test]
    fn events_serialize_with_their_kind() {
        let event = Event::DealExpired {
            deal: DealRef {
                id: "d1".into(),
                name: "Mandopop".into(),
            },
            respond_by: "2026-12-31T00:00:00Z".parse().unwrap(),
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["kind"], "deal_expired");
        assert_eq!(value["respond_by"], "2026-12-31T00:00:00Z");
        assert_eq!(event.kind().as_str(), "deal_expired");
        assert_eq!(event.subject(), ("deal", "d1"));
    }
}
