//! A statement after it is issued: the licensor disputes or confirms it; a confirmed
//! statement is frozen into an amount owed, paid (recorded by the licensor, like an
//! installment) and swept to due and overdue; balances per deal.
//!
//! The rules are `domain::royalty::transition`; each operation here is one transaction
//! with its audit event and its notifications (outbox). Decisions (docs/royalties.md):
//!
//! - statements are **confirmed in period order**: a statement cannot be confirmed
//!   while an earlier period's current statement is still issued or disputed, because
//!   recoupment carries forward and a confirmed statement must never be recomputed;
//! - so a report that would recompute a confirmed statement (its period, or an earlier
//!   one) is refused with 409 (`super::upload_report`);
//! - a dispute leaves later statements as they are (issued): they cannot be confirmed
//!   before the disputed one, and the corrected report recomputes them.

use chrono::NaiveDateTime;

use super::{accounted, RoyaltiesError};
use crate::db::audit::AuditEvent;
use crate::db::deals::{self, DealRow, GrantSummary};
use crate::db::royalties::{self as storage, StatementChange, StatementPaymentRow, StatementRow};
use crate::db::{accounts, new_id, now, stored, write_transaction, DbConnection, DbError};
use crate::domain::installment::DUE_NOTICE;
use crate::domain::money::Currency;
use crate::domain::role::Role;
use crate::domain::royalty::{
    transition, StatementAction, StatementRefusal, StatementState, StatementStatus,
};
use crate::domain::ValidationErrors;
use crate::mail::event::{Actor, DealRef, Event, StatementRef};
use crate::notifications::{self, Audience, Notification};

/// The longest dispute reason.
pub const REASON_MAX_CHARS: usize = 2000;
const BATCH: i64 = 1000;

impl From<StatementRefusal> for RoyaltiesError {
    fn from(refusal: StatementRefusal) -> Self {
        match refusal {
            StatementRefusal::WrongStatus { .. } => RoyaltiesError::Conflict(refusal.to_string()),
            StatementRefusal::Amount { .. } => {
                RoyaltiesError::Validation(ValidationErrors::single("amount", refusal.to_string()))
            }
        }
    }
}

fn state_of(row: &StatementRow) -> Result<StatementState, DbError> {
    Ok(StatementState {
        status: stored("royalty_statements.status", &row.status)?,
        payable_minor: row.payable_minor,
        paid_minor: row.paid_minor,
        due_date: row.due_date,
    })
}

/// A statement with its grant, if `organization_id` is a party to it (else 404).
pub fn party_statement(
    conn: &mut DbConnection,
    organization_id: &str,
    statement_id: &str,
) -> Result<(StatementRow, GrantSummary), RoyaltiesError> {
    let statement = storage::find_statement(conn, statement_id)?
        .ok_or(RoyaltiesError::NotFound("statement"))?;
    let grant = deals::find_grant(conn, &statement.grant_id)?
        .filter(|g| g.licensor_org_id == organization_id || g.licensee_org_id == organization_id)
        .ok_or(RoyaltiesError::NotFound("statement"))?;
    Ok((statement, grant))
}

/// The statement, under its row lock, if the caller is the grant's licensor with
/// `needed` or above; an outsider gets 404, the licensee and lesser roles 403.
fn licensor_statement(
    conn: &mut DbConnection,
    organization_id: &str,
    role: Role,
    statement_id: &str,
    needed: Role,
    doing: &str,
) -> Result<(StatementRow, GrantSummary, DealRow), RoyaltiesError> {
    storage::lock_statement(conn, statement_id)?;
    let (statement, grant) = party_statement(conn, organization_id, statement_id)?;
    if grant.licensor_org_id != organization_id {
        return Err(RoyaltiesError::Forbidden(format!(
            "{doing} is for the grant's licensor, the party the royalties are paid to"
        )));
    }
    if !role.includes(needed) {
        return Err(RoyaltiesError::Forbidden(format!(
            "{doing} needs the {needed} role or higher; you are {role}"
        )));
    }
    let deal =
        deals::find_deal(conn, &grant.deal_id)?.ok_or(RoyaltiesError::NotFound("statement"))?;
    Ok((statement, grant, deal))
}

/// A statement as mails show it, with `amount_minor` (payable or balance).
pub(crate) fn statement_ref(
    row: &StatementRow,
    amount_minor: i64,
) -> Result<StatementRef, DbError> {
    let currency: Currency = stored("royalty_statements.currency", &row.currency)?;
    Ok(StatementRef {
        id: row.id.clone(),
        period_start: row.period_start,
        period_end: row.period_end,
        due_date: row.due_date,
        amount: currency.format_amount(currency.from_minor_units(amount_minor)),
        currency: currency.code().to_string(),
    })
}

pub(crate) fn deal_ref(deal: &DealRow) -> DealRef {
    DealRef {
        id: deal.id.clone(),
        name: deal.name.clone(),
    }
}

/// Who acted, as mails name them.
pub(crate) fn actor(
    conn: &mut DbConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<Actor, DbError> {
    Ok(Actor {
        name: accounts::find_user(conn, user_id)?
            .map(|u| u.name)
            .unwrap_or_default(),
        organization: accounts::find_organization(conn, organization_id)?
            .map(|o| o.name)
            .unwrap_or_default(),
    })
}

/// Tells both parties' members (and the deal's watchers), each with whether their
/// side acts now; the actor is not told about their own action.
pub(crate) fn tell_parties(
    conn: &mut DbConnection,
    deal: &DealRow,
    event: &Event,
    licensor_acts: bool,
    licensee_acts: bool,
    actor_user_id: Option<&str>,
) -> Result<(), DbError> {
    let licensor = accounts::find_organization(conn, &deal.licensor_org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let licensee = accounts::find_organization(conn, &deal.licensee_org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    notifications::notify(
        conn,
        Notification {
            event,
            audiences: vec![
                Audience {
                    organization_id: &deal.licensor_org_id,
                    counterparty: &licensee,
                    action_required: licensor_acts,
                },
                Audience {
                    organization_id: &deal.licensee_org_id,
                    counterparty: &licensor,
                    action_required: licensee_acts,
                },
            ],
            actor_user_id,
        },
    )?;
    Ok(())
}

/// The licensor disputes a statement (negotiator or above), with a reason the
/// licensee answers with a corrected report.
pub fn dispute(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    role: Role,
    statement_id: &str,
    reason: &str,
) -> Result<StatementRow, RoyaltiesError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX_CHARS {
        return Err(ValidationErrors::single(
            "reason",
            format!("is required, at most {REASON_MAX_CHARS} characters"),
        )
        .into());
    }
    let at = now();
    write_transaction(conn, |conn| {
        let (statement, _grant, deal) = licensor_statement(
            conn,
            organization_id,
            role,
            statement_id,
            Role::Negotiator,
            "disputing a statement",
        )?;
        let before = state_of(&statement)?;
        let next = transition(before, StatementAction::Dispute, at.date())?;
        storage::update_statement(
            conn,
            &statement.id,
            &StatementChange {
                status: next.status.as_str(),
                paid_minor: next.paid_minor,
                disputed_reason: Some(reason),
                disputed_by: Some(user_id),
                disputed_at: Some(at),
                confirmed_by: None,
                confirmed_at: None,
            },
        )?;
        AuditEvent::new(
            "royalty_statement.disputed",
            "royalty_statement",
            Some(&statement.id),
        )
        .by(Some(organization_id), Some(user_id))
        .before(serde_json::json!({"status": statement.status}))
        .after(serde_json::json!({"status": next.status, "reason": reason}))
        .write(conn)?;
        let event = Event::StatementDisputed {
            deal: deal_ref(&deal),
            statement: statement_ref(&statement, statement.payable_minor)?,
            actor: actor(conn, user_id, organization_id)?,
            reason: reason.to_string(),
        };
        tell_parties(conn, &deal, &event, false, true, Some(user_id))?;
        Ok(StatementRow {
            status: next.status.to_string(),
            disputed_reason: Some(reason.to_string()),
            disputed_by: Some(user_id.to_string()),
            disputed_at: Some(at),
            ..statement
        })
    })
}

/// The licensor confirms a statement (signer or above): it is frozen and becomes an
/// amount owed by its due date. Statements are confirmed in period order.
pub fn confirm(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    role: Role,
    statement_id: &str,
) -> Result<StatementRow, RoyaltiesError> {
    let at = now();
    write_transaction(conn, |conn| {
        let (statement, grant, deal) = licensor_statement(
            conn,
            organization_id,
            role,
            statement_id,
            Role::Signer,
            "confirming a statement",
        )?;
        let before = state_of(&statement)?;
        let next = transition(before, StatementAction::Confirm, at.date())?;
        if let Some(earlier) = storage::unconfirmed_before(conn, &grant.id, statement.period_start)?
        {
            return Err(RoyaltiesError::Conflict(format!(
                "statements are confirmed in period order: the statement for {} to {} is still {}",
                earlier.period_start, earlier.period_end, earlier.status
            )));
        }
        storage::update_statement(
            conn,
            &statement.id,
            &StatementChange {
                status: next.status.as_str(),
                paid_minor: next.paid_minor,
                disputed_reason: statement.disputed_reason.as_deref(),
                disputed_by: statement.disputed_by.as_deref(),
                disputed_at: statement.disputed_at,
                confirmed_by: Some(user_id),
                confirmed_at: Some(at),
            },
        )?;
        AuditEvent::new(
            "royalty_statement.confirmed",
            "royalty_statement",
            Some(&statement.id),
        )
        .by(Some(organization_id), Some(user_id))
        .before(serde_json::json!({"status": statement.status}))
        .after(serde_json::json!({"status": next.status, "payable_minor": statement.payable_minor}))
        .write(conn)?;
        let event = Event::StatementConfirmed {
            deal: deal_ref(&deal),
            statement: statement_ref(&statement, statement.payable_minor)?,
            actor: actor(conn, user_id, organization_id)?,
        };
        let licensee_pays = next.status != StatementStatus::Paid;
        tell_parties(conn, &deal, &event, false, licensee_pays, Some(user_id))?;
        Ok(StatementRow {
            status: next.status.to_string(),
            confirmed_by: Some(user_id.to_string()),
            confirmed_at: Some(at),
            ..statement
        })
    })
}

/// Money received against a confirmed statement, checked as for an installment.
pub use crate::deals::payments::NewPayment;

/// The licensor records money it received against a confirmed statement (negotiator
/// or above, like installment payments). Overpayment is refused.
pub fn record_payment(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    role: Role,
    statement_id: &str,
    payment: NewPayment,
) -> Result<StatementRow, RoyaltiesError> {
    let at = now();
    write_transaction(conn, |conn| {
        let (statement, _grant, _deal) = licensor_statement(
            conn,
            organization_id,
            role,
            statement_id,
            Role::Negotiator,
            "recording a payment",
        )?;
        let before = state_of(&statement)?;
        if !before.status.is_owed() {
            return Err(StatementRefusal::WrongStatus {
                status: before.status,
                action: "pay",
            }
            .into());
        }
        let currency: Currency = stored("royalty_statements.currency", &statement.currency)?;
        let remaining = statement.payable_minor - statement.paid_minor;
        let amount = payment.checked_amount(currency, remaining, at.date())?;
        let reference = payment.reference.trim();
        let next = transition(
            before,
            StatementAction::Pay {
                amount_minor: amount,
            },
            at.date(),
        )?;
        storage::insert_statement_payment(
            conn,
            &StatementPaymentRow {
                id: new_id(),
                statement_id: statement.id.clone(),
                amount_minor: amount,
                paid_on: payment.paid_on,
                reference: reference.to_string(),
                recorded_by: user_id.to_string(),
                created_at: at,
            },
        )?;
        storage::update_statement(conn, &statement.id, &unchanged(&statement, next))?;
        AuditEvent::new(
            "royalty_statement.payment_recorded",
            "royalty_statement",
            Some(&statement.id),
        )
        .by(Some(organization_id), Some(user_id))
        .before(serde_json::json!({"paid_minor": statement.paid_minor, "status": statement.status}))
        .after(serde_json::json!({"paid_minor": next.paid_minor, "status": next.status, "reference": reference}))
        .write(conn)?;
        Ok(StatementRow {
            status: next.status.to_string(),
            paid_minor: next.paid_minor,
            ..statement
        })
    })
}

/// The change that moves only status and money, keeping who disputed and confirmed.
fn unchanged(statement: &StatementRow, next: StatementState) -> StatementChange<'_> {
    StatementChange {
        status: next.status.as_str(),
        paid_minor: next.paid_minor,
        disputed_reason: statement.disputed_reason.as_deref(),
        disputed_by: statement.disputed_by.as_deref(),
        disputed_at: statement.disputed_at,
        confirmed_by: statement.confirmed_by.as_deref(),
        confirmed_at: statement.confirmed_at,
    }
}

/// One pass over confirmed statements the calendar moved at `at` (the sweeper): due
/// [`DUE_NOTICE`] before the due date, overdue after it, each announced to both parties
/// (the licensee acts: it pays), the overdue notice once. How many changed.
pub fn sweep(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, RoyaltiesError> {
    let mut changed = 0;
    for candidate in storage::statements_to_review(conn, at.date() + DUE_NOTICE, BATCH)? {
        if review(conn, &candidate.id, at)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Moves one statement to its status of today under its row lock (a payment recorded
/// meanwhile is never overwritten) and announces it when it becomes due or overdue.
fn review(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<bool, RoyaltiesError> {
    let today = at.date();
    write_transaction(conn, |conn| {
        storage::lock_statement(conn, id)?;
        let Some(statement) = storage::find_statement(conn, id)? else {
            return Ok(false);
        };
        let before = state_of(&statement)?;
        if !before.status.is_owed() || statement.superseded_at.is_some() {
            return Ok(false);
        }
        let next = transition(before, StatementAction::Review, today)?;
        let newly_due =
            next.status == StatementStatus::Due && before.status == StatementStatus::Confirmed;
        let overdue_unannounced =
            next.status == StatementStatus::Overdue && !statement.overdue_notified;
        if next.status == before.status && !overdue_unannounced {
            return Ok(false);
        }
        storage::update_statement(conn, &statement.id, &unchanged(&statement, next))?;
        let Some(grant) = deals::find_grant(conn, &statement.grant_id)? else {
            return Ok(true);
        };
        let Some(deal) = deals::find_deal(conn, &grant.deal_id)? else {
            return Ok(true);
        };
        let reference = statement_ref(&statement, statement.payable_minor - statement.paid_minor)?;
        let event = if overdue_unannounced && storage::mark_overdue_notified(conn, &statement.id)? {
            Some(Event::StatementOverdue {
                deal: deal_ref(&deal),
                statement: reference,
                days_overdue: (today - statement.due_date).num_days(),
            })
        } else if newly_due {
            Some(Event::StatementDue {
                deal: deal_ref(&deal),
                statement: reference,
            })
        } else {
            None
        };
        if let Some(event) = event {
            tell_parties(conn, &deal, &event, false, true, None)?;
        }
        AuditEvent::new(
            "royalty_statement.reviewed",
            "royalty_statement",
            Some(&statement.id),
        )
        .before(serde_json::json!({"status": statement.status}))
        .after(serde_json::json!({"status": next.status}))
        .write(conn)?;
        Ok(true)
    })
}

/// A deal's money, in minor units of its currency (see docs/royalties.md § Balances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    pub deal_id: String,
    pub currency: Currency,
    /// The recoupable advance.
    pub advance: i64,
    /// What the installments paid toward it (installment money pays the fee first).
    pub advance_paid: i64,
    /// Recouped by confirmed statements.
    pub recouped: i64,
    pub unrecouped: i64,
    /// Minimum guarantee top-ups in confirmed statements.
    pub guarantee_top_up: i64,
    /// Confirmed statements: payable, paid, still owed, and the overdue part.
    pub royalties_payable: i64,
    pub royalties_paid: i64,
    pub royalties_outstanding: i64,
    pub royalties_overdue: i64,
    /// Payable in current statements not yet confirmed (issued or disputed).
    pub royalties_under_review: i64,
    pub installments_total: i64,
    pub installments_paid: i64,
    pub installments_outstanding: i64,
    pub total_owed: i64,
    pub total_paid: i64,
    pub total_outstanding: i64,
}

/// The balances of an executed deal the organization is a party to.
pub fn balances(
    conn: &mut DbConnection,
    organization_id: &str,
    deal_id: &str,
) -> Result<Balances, RoyaltiesError> {
    let deal = deals::find_deal_for_org(conn, organization_id, deal_id)?
        .ok_or(RoyaltiesError::NotFound("deal"))?;
    let grant = deals::find_grant_for_deal(conn, &deal.id)?.ok_or_else(|| {
        RoyaltiesError::Conflict(format!(
            "the deal is {}: balances start at execution",
            deal.state
        ))
    })?;
    let accounted = accounted(conn, organization_id, &grant.id)?;
    let currency = accounted.economics.currency;
    let minor = |amount: rust_decimal::Decimal| {
        currency
            .to_minor_units(amount)
            .map_err(|e| DbError::Corrupt(format!("advance: {e}")))
    };
    let advance = match accounted.economics.advance {
        Some(a) if a.recoupable => minor(a.amount)?,
        _ => 0,
    };
    let cancelled = crate::domain::installment::InstallmentStatus::Cancelled.as_str();
    let installments = deals::installments_for_deal(conn, &deal.id)?;
    let live = installments.iter().filter(|i| i.status != cancelled);
    let installments_total: i64 = live.clone().map(|i| i.amount_minor).sum();
    let installments_outstanding: i64 = live.map(|i| i.amount_minor - i.paid_minor).sum();
    let installments_paid: i64 = installments.iter().map(|i| i.paid_minor).sum();
    // The schedule pays the fee and the advance; money pays the fee first.
    let fee = (installments_total - advance).max(0);
    let advance_paid = (installments_paid - fee).clamp(0, advance);

    let mut b = Balances {
        deal_id: deal.id.clone(),
        currency,
        advance,
        advance_paid,
        recouped: 0,
        unrecouped: 0,
        guarantee_top_up: 0,
        royalties_payable: 0,
        royalties_paid: 0,
        royalties_outstanding: 0,
        royalties_overdue: 0,
        royalties_under_review: 0,
        installments_total,
        installments_paid,
        installments_outstanding,
        total_owed: 0,
        total_paid: 0,
        total_outstanding: 0,
    };
    for s in storage::statements_of(conn, &grant.id)?
        .into_iter()
        .filter(|s| s.superseded_at.is_none())
    {
        let status: StatementStatus = stored("royalty_statements.status", &s.status)?;
        if status.is_frozen() {
            b.recouped += s.recouped_minor;
            b.guarantee_top_up += s.guarantee_top_up_minor;
            b.royalties_payable += s.payable_minor;
            b.royalties_paid += s.paid_minor;
            if status == StatementStatus::Overdue {
                b.royalties_overdue += s.payable_minor - s.paid_minor;
            }
        } else if status.is_reviewable() {
            b.royalties_under_review += s.payable_minor;
        }
    }
    b.unrecouped = (advance - b.recouped).max(0);
    b.royalties_outstanding = b.royalties_payable - b.royalties_paid;
    b.total_owed = b.installments_total + b.royalties_payable;
    b.total_paid = b.installments_paid + b.royalties_paid;
    b.total_outstanding = b.installments_outstanding + b.royalties_outstanding;
    Ok(b)
}
