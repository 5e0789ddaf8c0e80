//! An installment's status, as the calendar and the money decide it.

use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::domain::stored::stored_enum;

/// An installment becomes `due` this many days before its due date.
pub const DUE_NOTICE: TimeDelta = TimeDelta::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstallmentStatus {
    /// Not yet within [`DUE_NOTICE`] of its due date.
    Scheduled,
    /// Within [`DUE_NOTICE`] of its due date, nothing paid.
    Due,
    /// Some money arrived, the due date not passed.
    PartiallyPaid,
    /// Fully paid (terminal).
    Paid,
    /// Past its due date and not fully paid.
    Overdue,
    /// Voided by the deal's termination (terminal).
    Cancelled,
}

stored_enum! {
    InstallmentStatus {
        Scheduled = "scheduled",
        Due = "due",
        PartiallyPaid = "partially_paid",
        Paid = "paid",
        Overdue = "overdue",
        Cancelled = "cancelled",
    }
    unknown struct UnknownInstallmentStatus = "unknown installment status `{0}`"
}

impl InstallmentStatus {
    /// The statuses time can still move (everything but paid and cancelled).
    pub const OPEN: [InstallmentStatus; 4] = [
        InstallmentStatus::Scheduled,
        InstallmentStatus::Due,
        InstallmentStatus::PartiallyPaid,
        InstallmentStatus::Overdue,
    ];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// The status of an installment on `today`: `paid` when fully paid; otherwise
    /// `overdue` after the due date, `partially_paid` when some money arrived, `due`
    /// within [`DUE_NOTICE`] of the due date, else `scheduled`.
    pub fn on(
        due_date: NaiveDate,
        paid_minor: i64,
        amount_minor: i64,
        today: NaiveDate,
    ) -> InstallmentStatus {
        if paid_minor >= amount_minor {
            InstallmentStatus::Paid
        } else if today > due_date {
            InstallmentStatus::Overdue
        } else if paid_minor > 0 {
            InstallmentStatus::PartiallyPaid
        } else if today >= due_date - DUE_NOTICE {
            InstallmentStatus::Due
        } else {
            InstallmentStatus::Scheduled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstallmentStatus::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn statuses_follow_the_calendar_and_the_money() {
        let due = d("2027-01-15");
        let on = |paid, today| InstallmentStatus::on(due, paid, 100, d(today));
        assert_eq!(on(0, "2027-01-01"), Scheduled);
        assert_eq!(on(0, "2027-01-08"), Due);
        assert_eq!(on(0, "2027-01-15"), Due);
        assert_eq!(on(0, "2027-01-16"), Overdue);
        assert_eq!(on(40, "2027-01-10"), PartiallyPaid);
        assert_eq!(on(40, "2027-01-16"), Overdue);
        assert_eq!(on(100, "2027-02-01"), Paid);
    }

    #[test]
    fn names_round_trip_and_only_paid_and_cancelled_are_closed() {
        for status in InstallmentStatus::ALL {
            assert_eq!(status.as_str().parse::<InstallmentStatus>(), Ok(status));
            assert_eq!(status.is_open(), !matches!(status, Paid | Cancelled));
        }
        assert!("settled".parse::<InstallmentStatus>().is_err());
    }
}
