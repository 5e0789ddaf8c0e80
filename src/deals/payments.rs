//! The payment schedule after execution: installment statuses and recorded
//! payments. The licensor records money it received (it is the party that can
//! confirm receipt); the licensee sees the same schedule. Overpayment is refused.

use chrono::NaiveDate;

use super::DealError;
use crate::db::audit::AuditEvent;
use crate::db::deals::{self, InstallmentRow, PaymentRow};
use crate::db::{new_id, now, stored, write_transaction, DbConnection};
use crate::domain::installment::InstallmentStatus;
use crate::domain::money::Currency;
use crate::domain::ValidationErrors;

/// Money received, as the licensor records it (against an installment or a
/// confirmed royalty statement).
pub struct NewPayment {
    pub amount: String,
    pub paid_on: NaiveDate,
    pub reference: String,
}

impl NewPayment {
    /// The amount in minor units of `currency`, if the payment is valid against
    /// a balance of `remaining_minor` on `today`: a payable amount above zero and
    /// not above the balance, a reference, a day not in the future. Every
    /// problem is reported on its field.
    pub fn checked_amount(
        &self,
        currency: Currency,
        remaining_minor: i64,
        today: NaiveDate,
    ) -> Result<i64, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let amount = currency
            .parse_amount(&self.amount)
            .map_err(|m| errors.push("amount", m))
            .ok()
            .and_then(|a| {
                currency
                    .to_minor_units(a)
                    .map_err(|e| errors.push("amount", e.to_string()))
                    .ok()
            });
        let reference = self.reference.trim();
        if reference.is_empty() || reference.chars().count() > 200 {
            errors.push("reference", "is required, at most 200 characters");
        }
        if self.paid_on > today {
            errors.push("paid_on", "must not be in the future");
        }
        if let Some(amount) = amount {
            if amount == 0 {
                errors.push("amount", "must be greater than 0");
            } else if amount > remaining_minor {
                errors.push(
                    "amount",
                    format!(
                        "exceeds the balance of {} {}",
                        currency.format_amount(currency.from_minor_units(remaining_minor)),
                        currency.code()
                    ),
                );
            }
        }
        match amount {
            Some(a) if errors.is_empty() => Ok(a),
            _ => Err(errors),
        }
    }
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
        let current: InstallmentStatus = stored("installments.status", &installment.status)?;
        if current == InstallmentStatus::Cancelled {
            return Err(DealError::conflict(
                "the installment was cancelled by termination",
            ));
        }
        let currency: Currency = stored("installments.currency", &installment.currency)?;
        let remaining = installment.amount_minor - installment.paid_minor;
        let amount = payment.checked_amount(currency, remaining, at.date())?;
        let reference = payment.reference.trim();
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
        let status = InstallmentStatus::on(
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
