//! A royalty statement's life after it is computed: the licensor reviews it, then it is
//! an amount owed, paid and tracked like an installment.
//!
//! ```text
//!  issued ──dispute──▶ disputed
//!    │  │                 │ │
//!    │  └── supersede ────┼─┴──▶ superseded   (a corrected report recomputed it)
//!    │                    │
//!    └──confirm──▶ ◀──confirm (the licensor accepts the figures after all)
//!        confirmed ─┬─▶ due ─┬─▶ partially_paid ─┬─▶ paid
//!                   └────────┴─▶ overdue ────────┘
//! ```
//!
//! From `confirmed` on the statement is **frozen**: its figures never change again, and
//! only money and the calendar move it, exactly as [`InstallmentStatus::on`] moves an
//! installment (`confirmed` plays the part of `scheduled`). A confirmed statement with
//! nothing payable (all recouped) is `paid` at once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::installment::InstallmentStatus;
use crate::domain::stored::stored_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// Computed from the current report; the licensor has to review it.
    Issued,
    /// The licensor disputed it (with a reason); the licensee answers with a corrected report.
    Disputed,
    /// Replaced by a recomputation after a corrected report (terminal).
    Superseded,
    /// Confirmed, frozen, an amount owed; not yet within the due notice.
    Confirmed,
    /// Within the due notice of its due date, nothing paid.
    Due,
    /// Some money recorded, the due date not passed.
    PartiallyPaid,
    /// Fully paid (terminal).
    Paid,
    /// Past its due date and not fully paid.
    Overdue,
}

stored_enum! {
    StatementStatus {
        Issued = "issued",
        Disputed = "disputed",
        Superseded = "superseded",
        Confirmed = "confirmed",
        Due = "due",
        PartiallyPaid = "partially_paid",
        Paid = "paid",
        Overdue = "overdue",
    }
    unknown struct UnknownStatementStatus = "unknown statement status `{0}`"
}

impl StatementStatus {
    /// Under review: a corrected report may still replace it.
    pub const REVIEWABLE: [StatementStatus; 2] =
        [StatementStatus::Issued, StatementStatus::Disputed];
    /// Confirmed and money still owed: the calendar can move these.
    pub const OWED: [StatementStatus; 4] = [
        StatementStatus::Confirmed,
        StatementStatus::Due,
        StatementStatus::PartiallyPaid,
        StatementStatus::Overdue,
    ];

    /// Confirmed, whatever the money: its figures never change again.
    pub const FROZEN: [StatementStatus; 5] = [
        StatementStatus::Confirmed,
        StatementStatus::Due,
        StatementStatus::PartiallyPaid,
        StatementStatus::Paid,
        StatementStatus::Overdue,
    ];

    pub fn is_frozen(self) -> bool {
        Self::FROZEN.contains(&self)
    }

    pub fn is_reviewable(self) -> bool {
        Self::REVIEWABLE.contains(&self)
    }

    pub fn is_owed(self) -> bool {
        Self::OWED.contains(&self)
    }

    /// The status of a confirmed statement on `today`, as an installment's would be.
    pub fn owed_on(
        due_date: NaiveDate,
        paid_minor: i64,
        payable_minor: i64,
        today: NaiveDate,
    ) -> StatementStatus {
        match InstallmentStatus::on(due_date, paid_minor, payable_minor, today) {
            InstallmentStatus::Paid => StatementStatus::Paid,
            InstallmentStatus::Overdue => StatementStatus::Overdue,
            InstallmentStatus::PartiallyPaid => StatementStatus::PartiallyPaid,
            InstallmentStatus::Due => StatementStatus::Due,
            // `on` never answers `cancelled`: only a termination cancels an installment.
            InstallmentStatus::Scheduled | InstallmentStatus::Cancelled => {
                StatementStatus::Confirmed
            }
        }
    }

    /// The actions allowed from here (named in a 409).
    pub fn allowed(self) -> &'static [&'static str] {
        match self {
            StatementStatus::Issued => &["dispute", "confirm"],
            StatementStatus::Disputed => &["confirm"],
            StatementStatus::Confirmed
            | StatementStatus::Due
            | StatementStatus::PartiallyPaid
            | StatementStatus::Overdue => &["pay"],
            StatementStatus::Superseded | StatementStatus::Paid => &[],
        }
    }
}

/// What can happen to a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementAction {
    /// The licensor disputes the figures.
    Dispute,
    /// The licensor confirms the figures: the statement freezes into an amount owed.
    Confirm,
    /// A corrected report recomputes it (this one or an earlier period's).
    Supersede,
    /// The licensor records money received, in minor units.
    Pay { amount_minor: i64 },
    /// The calendar moved (the sweeper): due, overdue.
    Review,
}

impl StatementAction {
    pub fn name(self) -> &'static str {
        match self {
            StatementAction::Dispute => "dispute",
            StatementAction::Confirm => "confirm",
            StatementAction::Supersede => "supersede",
            StatementAction::Pay { .. } => "pay",
            StatementAction::Review => "review",
        }
    }
}

/// A statement as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementState {
    pub status: StatementStatus,
    pub payable_minor: i64,
    pub paid_minor: i64,
    pub due_date: NaiveDate,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementRefusal {
    /// Not allowed in this status (409).
    #[error("a statement that is {status} cannot be {}; allowed: {}", past(.action), allowed(.status))]
    WrongStatus {
        status: StatementStatus,
        action: &'static str,
    },
    /// A payment of nothing, or of more than the balance (422).
    #[error(
        "the amount must be greater than 0 and at most the balance of {balance_minor} minor units"
    )]
    Amount { balance_minor: i64 },
}

fn past(action: &str) -> &'static str {
    match action {
        "dispute" => "disputed",
        "confirm" => "confirmed",
        "supersede" => "replaced by a corrected report",
        "pay" => "paid",
        _ => "changed",
    }
}

fn allowed(status: &StatementStatus) -> String {
    match status.allowed() {
        [] => "nothing".to_string(),
        names => names.join(", "),
    }
}

/// The state after `action` on `today`, or why it is refused. `Review` never refuses:
/// it leaves everything but an owed statement unchanged.
pub fn transition(
    state: StatementState,
    action: StatementAction,
    today: NaiveDate,
) -> Result<StatementState, StatementRefusal> {
    use StatementStatus as S;
    let refuse = || StatementRefusal::WrongStatus {
        status: state.status,
        action: action.name(),
    };
    let owed = |paid_minor: i64| StatementState {
        status: S::owed_on(state.due_date, paid_minor, state.payable_minor, today),
        paid_minor,
        ..state
    };
    match action {
        StatementAction::Dispute if state.status == S::Issued => Ok(StatementState {
            status: S::Disputed,
            ..state
        }),
        StatementAction::Confirm if state.status.is_reviewable() => Ok(owed(0)),
        StatementAction::Supersede if state.status.is_reviewable() => Ok(StatementState {
            status: S::Superseded,
            ..state
        }),
        StatementAction::Pay { amount_minor } if state.status.is_owed() => {
            let balance_minor = state.payable_minor - state.paid_minor;
            if amount_minor <= 0 || amount_minor > balance_minor {
                return Err(StatementRefusal::Amount { balance_minor });
            }
            Ok(owed(state.paid_minor + amount_minor))
        }
        StatementAction::Review if state.status.is_owed() => Ok(owed(state.paid_minor)),
        StatementAction::Review => Ok(state),
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use StatementStatus::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn issued(payable_minor: i64) -> StatementState {
        StatementState {
            status: Issued,
            payable_minor,
            paid_minor: 0,
            due_date: d("2027-05-15"),
        }
    }

    #[test]
    fn review_then_money_like_an_installment() {
        let today = d("2027-04-01");
        let s = issued(340_000);
        let disputed = transition(s, StatementAction::Dispute, today).unwrap();
        assert_eq!(disputed.status, Disputed);
        // Disputing twice is refused, naming what is allowed.
        let again = transition(disputed, StatementAction::Dispute, today).unwrap_err();
        assert_eq!(
            again.to_string(),
            "a statement that is disputed cannot be disputed; allowed: confirm"
        );
        let confirmed = transition(s, StatementAction::Confirm, today).unwrap();
        assert_eq!(confirmed.status, Confirmed);
        assert_eq!(
            transition(confirmed, StatementAction::Review, d("2027-05-08"))
                .unwrap()
                .status,
            Due
        );
        let part = transition(
            confirmed,
            StatementAction::Pay {
                amount_minor: 100_000,
            },
            d("2027-05-10"),
        )
        .unwrap();
        assert_eq!((part.status, part.paid_minor), (PartiallyPaid, 100_000));
        let late = transition(part, StatementAction::Review, d("2027-05-16")).unwrap();
        assert_eq!(late.status, Overdue);
        assert_eq!(
            transition(
                late,
                StatementAction::Pay {
                    amount_minor: 240_001
                },
                d("2027-05-16")
            ),
            Err(StatementRefusal::Amount {
                balance_minor: 240_000
            })
        );
        let paid = transition(
            late,
            StatementAction::Pay {
                amount_minor: 240_000,
            },
            d("2027-05-16"),
        )
        .unwrap();
        assert_eq!(paid.status, Paid);
        assert!(transition(paid, StatementAction::Pay { amount_minor: 1 }, today).is_err());
    }

    #[test]
    fn a_confirmed_statement_is_frozen_and_nothing_payable_is_paid() {
        let today = d("2027-04-01");
        let confirmed = transition(issued(0), StatementAction::Confirm, today).unwrap();
        assert_eq!(confirmed.status, Paid);
        let owed = transition(issued(5), StatementAction::Confirm, today).unwrap();
        for action in [
            StatementAction::Supersede,
            StatementAction::Dispute,
            StatementAction::Confirm,
        ] {
            assert!(matches!(
                transition(owed, action, today),
                Err(StatementRefusal::WrongStatus { .. })
            ));
        }
        // Money is recorded only on a confirmed statement.
        assert!(transition(issued(5), StatementAction::Pay { amount_minor: 1 }, today).is_err());
        // A disputed statement may still be confirmed (the licensor accepts the figures).
        let disputed = transition(issued(5), StatementAction::Dispute, today).unwrap();
        assert_eq!(
            transition(disputed, StatementAction::Confirm, today)
                .unwrap()
                .status,
            Confirmed
        );
        assert_eq!(
            transition(disputed, StatementAction::Supersede, today)
                .unwrap()
                .status,
            Superseded
        );
    }

    #[test]
    fn names_round_trip() {
        for status in StatementStatus::ALL {
            assert_eq!(status.as_str().parse::<StatementStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!("settled".parse::<StatementStatus>().is_err());
    }

    fn action() -> impl Strategy<Value = StatementAction> {
        prop_oneof![
            Just(StatementAction::Dispute),
            Just(StatementAction::Confirm),
            Just(StatementAction::Supersede),
            Just(StatementAction::Review),
            (-5i64..2_000).prop_map(|amount_minor| StatementAction::Pay { amount_minor }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever happens: money is only recorded on confirmed statements, never more
        /// than payable; once frozen a statement stays frozen (and `paid` and `superseded`
        /// are terminal); an owed statement's status is always what the calendar and the
        /// money say.
        #[test]
        fn lifecycle_invariants(
            payable in 0i64..3_000,
            steps in proptest::collection::vec((action(), 0i64..120), 0..24),
        ) {
            let start = d("2027-04-01");
            let mut state = issued(payable);
            for (action, day) in steps {
                let today = start + chrono::TimeDelta::days(day);
                let before = state;
                match transition(state, action, today) {
                    Ok(next) => {
                        if before.status.is_frozen() {
                            prop_assert!(next.status.is_frozen());
                        }
                        if matches!(before.status, Paid | Superseded) {
                            prop_assert_eq!(next, before);
                        }
                        prop_assert!(next.paid_minor <= next.payable_minor);
                        prop_assert!(next.paid_minor >= before.paid_minor);
                        if next.paid_minor > 0 {
                            prop_assert!(next.status.is_frozen());
                        }
                        if next.status.is_frozen() {
                            prop_assert_eq!(
                                next.status,
                                StatementStatus::owed_on(next.due_date, next.paid_minor, next.payable_minor, today)
                            );
                        }
                        prop_assert_eq!(next.payable_minor, before.payable_minor);
                        state = next;
                    }
                    Err(_) => {
                        prop_assert!(action != StatementAction::Review);
                    }
                }
            }
        }
    }
}
