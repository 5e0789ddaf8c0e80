//! Cadenza's own, scheduled deal transitions: deals whose respond-by passed
//! expire (with a warning a day before), executed deals whose term ended
//! complete, and installments move to due and overdue — each announced to the
//! parties. Run by the one sweeper (`crate::sweeper`); idempotent:
//! every step re-reads and changes only what still needs changing.

use chrono::{NaiveDateTime, TimeDelta};

use super::{status_of, DealError};
use crate::db::accounts;
use crate::db::audit::AuditEvent;
use crate::db::deals::{self, DealEventRow, DealRow, DealStatusUpdate};
use crate::db::{new_id, stored, write_transaction, DbConnection};
use crate::domain::deal::{self, Action, Actor, Party};
use crate::domain::installment::{InstallmentStatus, DUE_NOTICE};
use crate::domain::money::Currency;
use crate::mail::event::{DealRef, Event, InstallmentRef};
use crate::notifications::{self, Audience, Notification};

/// Deals are announced as expiring this long before their respond-by.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::hours(24);
const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DealSweep {
    pub warned: usize,
    pub expired: usize,
    pub completed: usize,
    pub installments_updated: usize,
}

fn deal_ref(deal: &DealRow) -> DealRef {
    DealRef {
        id: deal.id.clone(),
        name: deal.name.clone(),
    }
}

/// Tells both organizations, each with whether it is now expected to act.
pub(crate) fn tell_parties(
    conn: &mut DbConnection,
    deal: &DealRow,
    event: &Event,
    licensor_acts: bool,
    licensee_acts: bool,
) -> Result<(), DealError> {
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
            actor_user_id: None,
        },
    )?;
    Ok(())
}

/// Expires a deal whose respond-by has passed, at once (a transition attempted after
/// the deadline does not wait for the next sweep). Whether it expired now.
pub(crate) fn expire(
    conn: &mut DbConnection,
    deal_id: &str,
    at: NaiveDateTime,
) -> Result<bool, DealError> {
    system_transition(conn, deal_id, Action::Expire, at)
}

/// Applies a system action (expire, complete) to one deal, if still allowed.
fn system_transition(
    conn: &mut DbConnection,
    deal_id: &str,
    action: Action,
    at: NaiveDateTime,
) -> Result<bool, DealError> {
    write_transaction(conn, |conn| {
        let Some(deal) = deals::find_deal(conn, deal_id)? else {
            return Ok(false);
        };
        let status = status_of(conn, &deal)?;
        let Ok(step) = deal::apply(&status, &Actor::System, action) else {
            return Ok(false);
        };
        let update = DealStatusUpdate {
            state: step.next.state.as_str().to_string(),
            turn: step.next.turn.map(|t| t.as_str().to_string()),
            revision: step.next.revision as i32,
            agreed_revision: step.next.agreed_revision.map(|r| r as i32),
            version: deal.version + 1,
            respond_by: if action == Action::Expire {
                None
            } else {
                deal.respond_by
            },
            expiring_notified: deal.expiring_notified,
            updated_at: at,
        };
        if !deals::update_status(conn, &deal.id, deal.version, &update)? {
            return Ok(false);
        }
        for event in &step.events {
            deals::insert_event(
                conn,
                &DealEventRow {
                    id: new_id(),
                    deal_id: deal.id.clone(),
                    kind: event.kind().to_string(),
                    party: None,
                    actor_user_id: None,
                    revision: None,
                    summary: match action {
                        Action::Expire => format!(
                            "expired: no answer by {}",
                            deal.respond_by
                                .map(|t| t.and_utc().to_rfc3339())
                                .unwrap_or_default()
                        ),
                        _ => "completed: the licensed term ended".to_string(),
                    },
                    data: serde_json::json!({"event": event}).to_string(),
                    created_at: at,
                },
            )?;
        }
        if action == Action::Expire {
            if let Some(respond_by) = deal.respond_by {
                tell_parties(
                    conn,
                    &deal,
                    &Event::DealExpired {
                        deal: deal_ref(&deal),
                        respond_by: respond_by.and_utc(),
                    },
                    false,
                    false,
                )?;
            }
        } else if let Some(grant) = deals::find_grant_for_deal(conn, &deal.id)? {
            deals::complete_grant(conn, &grant.id)?;
            let completed =
                deals::find_grant(conn, &grant.id)?.ok_or(DealError::NotFound("grant"))?;
            super::chain::grant_ended(conn, &completed, at)?;
        }
        AuditEvent::new(
            if action == Action::Expire {
                "deal.expired"
            } else {
                "deal.completed"
            },
            "deal",
            Some(&deal.id),
        )
        .before(serde_json::json!({"state": deal.state}))
        .after(serde_json::json!({"state": step.next.state.as_str()}))
        .write(conn)?;
        Ok(true)
    })
}

/// One pass over everything due at `at`. Each change is decided inside its own
/// transaction on the row as it is then, and notices are claimed conditionally, so
/// concurrent sweepers (several nodes) neither overwrite payments nor double notices.
pub fn sweep(conn: &mut DbConnection, at: NaiveDateTime) -> Result<DealSweep, DealError> {
    let mut report = DealSweep::default();
    for deal in deals::deals_expiring(conn, at + EXPIRY_WARNING, BATCH)? {
        if deal.respond_by.is_some_and(|r| r > at) && warn_expiring(conn, &deal)? {
            report.warned += 1;
        }
    }
    for deal in deals::deals_to_expire(conn, at, BATCH)? {
        if system_transition(conn, &deal.id, Action::Expire, at)? {
            report.expired += 1;
        }
    }
    for grant in deals::grants_ended(conn, at.date(), BATCH)? {
        if system_transition(conn, &grant.deal_id, Action::Complete, at)? {
            report.completed += 1;
        }
    }
    let horizon = at.date() + DUE_NOTICE;
    for candidate in deals::installments_to_review(conn, horizon, BATCH * 5)? {
        if review_installment(conn, &candidate.id, at)? {
            report.installments_updated += 1;
        }
    }
    Ok(report)
}

/// Warns both parties a day before the respond-by, once; the side that must act is
/// the one on turn (negotiating) or each side that has not signed (agreed).
fn warn_expiring(conn: &mut DbConnection, deal: &DealRow) -> Result<bool, DealError> {
    let Some(respond_by) = deal.respond_by else {
        return Ok(false);
    };
    write_transaction(conn, |conn| {
        if !deals::mark_expiring_notified(conn, &deal.id)? {
            return Ok(false);
        }
        let status = status_of(conn, deal)?;
        let acts = |party: Party| match status.turn {
            Some(turn) => turn == party,
            None => !status.has_signed(party),
        };
        let event = Event::DealExpiring {
            deal: deal_ref(deal),
            respond_by: respond_by.and_utc(),
        };
        tell_parties(
            conn,
            deal,
            &event,
            acts(Party::Licensor),
            acts(Party::Licensee),
        )?;
        Ok(true)
    })
}

/// Moves one installment to its status of today (under its row lock, so a payment
/// recorded meanwhile is never overwritten) and announces it when it becomes due or
/// overdue. The licensee is the side expected to act: it pays.
fn review_installment(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, DealError> {
    let today = at.date();
    write_transaction(conn, |conn| {
        deals::lock_installment(conn, id)?;
        let Some(installment) = deals::find_installment(conn, id)? else {
            return Ok(false);
        };
        let current: InstallmentStatus = stored("installments.status", &installment.status)?;
        if !current.is_open() {
            return Ok(false);
        }
        let status = InstallmentStatus::on(
            installment.due_date,
            installment.paid_minor,
            installment.amount_minor,
            today,
        );
        let newly_due = status == InstallmentStatus::Due && current == InstallmentStatus::Scheduled;
        let overdue_unannounced =
            status == InstallmentStatus::Overdue && !installment.overdue_notified;
        if status == current && !overdue_unannounced {
            return Ok(false);
        }
        deals::set_installment(conn, &installment.id, installment.paid_minor, status, at)?;
        let Some(deal) = deals::find_deal(conn, &installment.deal_id)? else {
            return Ok(true);
        };
        let currency = Currency::parse(&installment.currency)
            .map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
        let reference = InstallmentRef {
            id: installment.id.clone(),
            due_date: installment.due_date,
            amount: currency.format_amount(
                currency.from_minor_units(installment.amount_minor - installment.paid_minor),
            ),
            currency: currency.code().to_string(),
        };
        let event = if overdue_unannounced && deals::mark_overdue_notified(conn, &installment.id)? {
            Some(Event::InstallmentOverdue {
                deal: deal_ref(&deal),
                installment: reference,
                days_overdue: (today - installment.due_date).num_days(),
            })
        } else if newly_due {
            Some(Event::InstallmentDue {
                deal: deal_ref(&deal),
                installment: reference,
            })
        } else {
            None
        };
        if let Some(event) = event {
            tell_parties(conn, &deal, &event, false, true)?;
        }
        Ok(true)
    })
}
