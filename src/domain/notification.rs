//! Notification kinds: what a member can be told about, stored in the feed
//! and in e-mail settings. The events that carry each kind's details are in
//! `crate::mail::event`; the service that tells members is `crate::notifications`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::stored::stored_enum;

/// The kinds of notification a user can receive (and switch e-mail off for).
/// Invitations and password resets are not among them: they are always mailed,
/// to an address rather than to a member's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    DealSubmitted,
    DealCountered,
    DealAccepted,
    DealRejected,
    DealWithdrawn,
    DealExpiring,
    DealExpired,
    DealSigned,
    DealExecuted,
    DealTerminated,
    GrantBackingLost,
    InstallmentDue,
    InstallmentOverdue,
    StatementIssued,
    StatementDisputed,
    StatementConfirmed,
    StatementDue,
    StatementOverdue,
    OfferMatchedRequest,
}

stored_enum! {
    // Each name is also the name of the kind's mail template.
    NotificationKind {
        DealSubmitted = "deal_submitted",
        DealCountered = "deal_countered",
        DealAccepted = "deal_accepted",
        DealRejected = "deal_rejected",
        DealWithdrawn = "deal_withdrawn",
        DealExpiring = "deal_expiring",
        DealExpired = "deal_expired",
        DealSigned = "deal_signed",
        DealExecuted = "deal_executed",
        DealTerminated = "deal_terminated",
        GrantBackingLost = "grant_backing_lost",
        InstallmentDue = "installment_due",
        InstallmentOverdue = "installment_overdue",
        StatementIssued = "statement_issued",
        StatementDisputed = "statement_disputed",
        StatementConfirmed = "statement_confirmed",
        StatementDue = "statement_due",
        StatementOverdue = "statement_overdue",
        OfferMatchedRequest = "offer_matched_request",
    }
    unknown struct UnknownNotificationKind = "unknown notification kind `{0}`"
}

impl NotificationKind {
    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }
}
