//! The payment schedule after execution: installment statuses and recorded
//! payments. The licensor records money it received (it is the party that can
//! confirm receipt); the licensee sees the same schedule. Overpayment is refused.

use chrono::{NaiveDate, TimeDelta};

use super::DealError;
use crate::db::audit::AuditEvent;
use crate::db::deals::{self, InstallmentRow, PaymentRow};
use crate::db::{new_id, now, write_transaction, DbConnection};
use crate::domain::money::Currency;
use crate::domain::ValidationErrors;

/// An installment becomes `due` this many days before its due date.
pub const DUE_NOTICE: TimeDelta = TimeDelta::days(7);

/// The status an unpaid-or-paid installment has on `today`: `paid` when fully
/// paid; otherwise `overdue` after the due date, `partially_paid` when some
/// money arrived, `due` within [`DUE_NOTICE`] of the due date, else `scheduled`.
pub fn installment_status(
    due_date: NaiveDate,
    paid_minor: i64,
    amount_minor: i64,
    today: NaiveDate,
) -> &'static str {
    if paid_minor >= amount_minor {
        "paid"
    } else if today > due_date {
        "overdue"
    } else if paid_minor > 0 {
        "partially_paid"
    } else if today >= due_date - DUE_NOTICE {
        "due"
    } else {
        "scheduled"
    }
}

pub struct NewPayment {
    pub amount: String,
    pub paid_on: NaiveDate,
    pub reference: String,
}

/// Records a payment against an installment of a deal the caller's organization
/// licensed out. Returns the updated installment.
pub fn record_payment(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    installment_id: &str,
    payment: NewPayment,
) -> Result<InstallmentRow, DealError> {
    let at = now();
    write_transaction(conn, |conn| {
        // Lock before reading: concurrent payments are checked against each other's
        // balance on PostgreSQL (SQLite's IMMEDIATE transaction already serializes them).
        deals::lock_installment(conn, installment_id)?;
        let installment = deals::find_installment(conn, installment_id)?
            .ok_or(DealError::NotFound("installment"))?;
        let deal = deals::find_deal(conn, &installment.deal_id)?
            .ok_or(DealError::NotFound("installment"))?;
        if deal.licensee_org_id == organization_id {
            return Err(DealError::Forbidden(
                "payments are recorded by the licensor when it receives them".into(),
            ));
        }
        if deal.licensor_org_id != organization_id {
            return Err(DealError::NotFound("installment"));
        }
        if installment.status == "cancelled" {
            return Err(DealError::conflict(
                "the installment was cancelled by termination",
            ));
        }
        let currency = Currency::parse(&installment.currency)
            .map_err(|e| DealError::Database(crate::db::DbError::Corrupt(e.to_string())))?;
        let mut errors = ValidationErrors::new();
        let amount = currency
            .parse_amount(&payment.amount)
            .map_err(|m| errors.push("amount", m))
            .ok()
            .and_then(|a| {
                currency
                    .to_minor_units(a)
                    .map_err(|e| errors.push("amount", e.to_string()))
                    .ok()
            });
        let reference = payment.reference.trim();
        if reference.is_empty() || reference.chars().count() > 200 {
            errors.push("reference", "is required, at most 200 characters");
        }
        if payment.paid_on > at.date() {
            errors.push("paid_on", "must not be in the future");
        }
        let remaining = installment.amount_minor - installment.paid_minor;
        if let Some(amount) = amount {
            if amount == 0 {
                errors.push("amount", "must be greater than 0");
            } else if amount > remaining {
                errors.push(
                    "amount",
                    format!(
                        "exceeds the balance of {} {}",
                        currency.format_amount(currency.from_minor_units(remaining)),
                        currency.code()
                    ),
                );
            }
        }
        let amount = match amount {
            Some(a) if errors.is_empty() => a,
            _ => return Err(DealError::Validation(errors)),
        };
        deals::insert_payment(
            conn,
            &PaymentRow {
                id: new_id(),
                installment_id: installment.id.clone(),
                amount_minor: amount,
                paid_on: payment.paid_on,
                reference: reference.to_string(),
                recorded_by: user_id.to_string(),
                created_at: at,
            },
        )?;
        let paid = installment.paid_minor + amount;
        let status = installment_status(
            installment.due_date,
            paid,
            installment.amount_minor,
            at.date(),
        );
        deals::set_installment(conn, &installment.id, paid, status, at)?;
        AuditEvent::new(
            "installment.payment_recorded",
            "installment",
            Some(&installment.id),
        )
        .by(Some(organization_id), Some(user_id))
        .before(
            serde_json::json!({"paid_minor": installment.paid_minor, "status": installment.status}),
        )
        .after(serde_json::json!({"paid_minor": paid, "status": status, "reference": reference}))
        .write(conn)?;
        Ok(InstallmentRow {
            paid_minor: paid,
            status: status.to_string(),
            updated_at: at,
            ..installment
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn statuses_follow_the_calendar_and_the_money() {
        let due = d("2027-01-15");
        assert_eq!(
            installment_status(due, 0, 100, d("2027-01-01")),
            "scheduled"
        );
        assert_eq!(installment_status(due, 0, 100, d("2027-01-08")), "due");
        assert_eq!(installment_status(due, 0, 100, d("2027-01-15")), "due");
        assert_eq!(installment_status(due, 0, 100, d("2027-01-16")), "overdue");
        assert_eq!(
            installment_status(due, 40, 100, d("2027-01-10")),
            "partially_paid"
        );
        assert_eq!(installment_status(due, 40, 100, d("2027-01-16")), "overdue");
        assert_eq!(installment_status(due, 100, 100, d("2027-02-01")), "paid");
    }
}
