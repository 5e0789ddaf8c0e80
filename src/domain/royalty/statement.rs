//! One accounting period's royalty statement, from its usage lines and what earlier
//! statements carried forward (see the module doc of [`super`] for the rules).

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::Serialize;

use super::economics::{Combination, Economics, GuaranteeScope};
use crate::domain::territory::Territory;
use crate::domain::usage::Usage;

/// What a licensee reported for one territory and usage in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLine {
    pub territory: Territory,
    pub usage: Usage,
    /// Streams of the licensed tracks.
    pub licensed_streams: u64,
    /// All the licensee's streams in this territory and usage (the usage share's base).
    pub total_streams: u64,
    /// The licensee's gross revenue here, in the deal's currency.
    pub gross_revenue: Decimal,
    pub subscribers: u64,
}

/// Which part of the economics decided a line's amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    RevenueShare,
    PerStreamFloor,
    PerSubscriberFloor,
    /// [`Combination::Sum`]: every part added.
    Sum,
    /// Nothing earned (no usage, or no economics that pay for it).
    Nothing,
}

/// One line of a statement: every candidate amount, exact, and the one due, rounded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub territory: Territory,
    pub usage: Usage,
    pub revenue_share: Decimal,
    pub per_stream_floor: Decimal,
    pub per_subscriber_floor: Decimal,
    pub basis: Basis,
    /// Rounded to the currency's minor unit, half away from zero.
    pub amount: Decimal,
}

/// What statements hand to the next one of the same deal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// Advance recouped so far.
    pub recouped_to_date: Decimal,
    /// Owed so far (earned plus per-period top-ups), for the term's guarantee.
    pub owed_to_date: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub lines: Vec<StatementLine>,
    /// The sum of the lines' amounts.
    pub earned: Decimal,
    /// A minimum guarantee's shortfall owed in this statement (per period, or at the
    /// term's end).
    pub guarantee_top_up: Decimal,
    /// Advance recouped from this period's royalties.
    pub recouped: Decimal,
    /// Advance still to recoup after this statement.
    pub unrecouped: Decimal,
    /// What the licensee pays for this period.
    pub payable: Decimal,
    /// For the next statement.
    pub carried: Carried,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoyaltyError {
    #[error(
        "{territory} {usage}: licensed streams ({licensed}) exceed the total streams ({total})"
    )]
    LicensedExceedTotal {
        territory: Territory,
        usage: Usage,
        licensed: u64,
        total: u64,
    },
    #[error("{territory} {usage} is reported twice")]
    Duplicate { territory: Territory, usage: Usage },
    #[error("{territory} {usage}: gross revenue is negative")]
    NegativeRevenue { territory: Territory, usage: Usage },
    #[error("the advance recouped so far ({recouped}) is more than the advance ({advance})")]
    RecoupedBeyondAdvance { recouped: Decimal, advance: Decimal },
    #[error("an amount is too large to compute exactly")]
    OutOfRange,
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal, RoyaltyError> {
    a.checked_mul(b).ok_or(RoyaltyError::OutOfRange)
}

fn div(a: Decimal, b: Decimal) -> Result<Decimal, RoyaltyError> {
    a.checked_div(b).ok_or(RoyaltyError::OutOfRange)
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, RoyaltyError> {
    a.checked_add(b).ok_or(RoyaltyError::OutOfRange)
}

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// One line's candidates and amount.
fn line(economics: &Economics, usage: &UsageLine) -> Result<StatementLine, RoyaltyError> {
    let (territory, kind) = (usage.territory, usage.usage);
    if usage.licensed_streams > usage.total_streams {
        return Err(RoyaltyError::LicensedExceedTotal {
            territory,
            usage: kind,
            licensed: usage.licensed_streams,
            total: usage.total_streams,
        });
    }
    if usage.gross_revenue.is_sign_negative() && !usage.gross_revenue.is_zero() {
        return Err(RoyaltyError::NegativeRevenue {
            territory,
            usage: kind,
        });
    }
    let licensed = Decimal::from(usage.licensed_streams);
    let revenue_share = match (economics.revenue_share, usage.total_streams) {
        (Some(share), total) if total > 0 => {
            let base = div(
                mul(usage.gross_revenue, HUNDRED - share.carve_out_percent)?,
                HUNDRED,
            )?;
            let shared = div(mul(base, share.percent)?, HUNDRED)?;
            div(mul(shared, licensed)?, Decimal::from(total))?
        }
        _ => Decimal::ZERO,
    };
    let per_stream_floor = match economics.per_stream_floor {
        Some(rate) => mul(licensed, rate)?,
        None => Decimal::ZERO,
    };
    let per_subscriber_floor = match economics.per_subscriber_floor {
        Some(rate) => mul(Decimal::from(usage.subscribers), rate)?,
        None => Decimal::ZERO,
    };
    let (basis, exact) = match economics.combination {
        Combination::GreaterOf => [
            (Basis::RevenueShare, revenue_share),
            (Basis::PerStreamFloor, per_stream_floor),
            (Basis::PerSubscriberFloor, per_subscriber_floor),
        ]
        .into_iter()
        // The first of equals wins, so the revenue share is named on a tie.
        .fold((Basis::Nothing, Decimal::ZERO), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        }),
        Combination::Sum => {
            let sum = add(add(revenue_share, per_stream_floor)?, per_subscriber_floor)?;
            (
                if sum.is_zero() {
                    Basis::Nothing
                } else {
                    Basis::Sum
                },
                sum,
            )
        }
    };
    Ok(StatementLine {
        territory,
        usage: kind,
        revenue_share,
        per_stream_floor,
        per_subscriber_floor,
        basis,
        amount: economics.currency.round(exact),
    })
}

/// The statement of one accounting period. `last_period` is whether it is the term's
/// last (where a term-wide guarantee is settled).
pub fn compute(
    economics: &Economics,
    usage: &[UsageLine],
    carried: Carried,
    last_period: bool,
) -> Result<Statement, RoyaltyError> {
    let mut seen = BTreeSet::new();
    let mut lines = Vec::with_capacity(usage.len());
    for u in usage {
        if !seen.insert((u.territory, u.usage)) {
            return Err(RoyaltyError::Duplicate {
                territory: u.territory,
                usage: u.usage,
            });
        }
        lines.push(line(economics, u)?);
    }
    lines.sort_by_key(|l| (l.territory, l.usage));
    let earned = lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, l| add(sum, l.amount))?;

    let guarantee = economics.minimum_guarantee;
    let period_top_up = match guarantee {
        Some(g) if g.scope == GuaranteeScope::PerPeriod => (g.amount - earned).max(Decimal::ZERO),
        _ => Decimal::ZERO,
    };
    let owed = add(earned, period_top_up)?;

    let advance = economics.recoupable_advance();
    if carried.recouped_to_date > advance {
        return Err(RoyaltyError::RecoupedBeyondAdvance {
            recouped: carried.recouped_to_date,
            advance,
        });
    }
    let unrecouped_before = advance - carried.recouped_to_date;
    let recouped = owed.min(unrecouped_before);
    let owed_to_date = add(carried.owed_to_date, owed)?;

    // The term's guarantee counts the recoupable advance as royalties paid ahead.
    let term_top_up = match guarantee {
        Some(g) if g.scope == GuaranteeScope::Term && last_period => {
            (g.amount - owed_to_date.max(advance)).max(Decimal::ZERO)
        }
        _ => Decimal::ZERO,
    };
    let payable = add(owed - recouped, term_top_up)?;
    Ok(Statement {
        lines,
        earned,
        guarantee_top_up: period_top_up + term_top_up,
        recouped,
        unrecouped: unrecouped_before - recouped,
        payable,
        carried: Carried {
            recouped_to_date: carried.recouped_to_date + recouped,
            owed_to_date,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use crate::domain::royalty::{
        AccountingPeriod, Advance, Combination, MinimumGuarantee, RevenueShare,
    };
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD")
    }

    fn dec(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn economics() -> Economics {
        Economics {
            currency: usd(),
            advance: None,
            minimum_guarantee: None,
            revenue_share: None,
            per_stream_floor: None,
            per_subscriber_floor: None,
            combination: Combination::GreaterOf,
            accounting_period: AccountingPeriod::Quarterly,
            statement_due_days: 30,
        }
    }

    fn usage(
        territory: &str,
        licensed: u64,
        total: u64,
        gross: &str,
        subscribers: u64,
    ) -> UsageLine {
        UsageLine {
            territory: Territory::parse(territory).expect("territory"),
            usage: Usage::InteractiveStreaming,
            licensed_streams: licensed,
            total_streams: total,
            gross_revenue: dec(gross),
            subscribers,
        }
    }

    #[test]
    fn the_per_subscriber_floor_can_win_and_sum_adds_everything() {
        let e = Economics {
            revenue_share: Some(RevenueShare {
                percent: dec("10"),
                carve_out_percent: dec("15"),
            }),
            per_stream_floor: Some(dec("0.001")),
            per_subscriber_floor: Some(dec("0.25")),
            ..economics()
        };
        // share: 100,000 × 85% × 10% × 1/2 = 4,250; streams 500,000 × 0.001 = 500;
        // subscribers 20,000 × 0.25 = 5,000.
        let s = compute(
            &e,
            &[usage("DE", 500_000, 1_000_000, "100000.00", 20_000)],
            Carried::default(),
            false,
        )
        .expect("statement");
        assert_eq!(s.lines[0].revenue_share, dec("4250"));
        assert_eq!(s.lines[0].basis, Basis::PerSubscriberFloor);
        assert_eq!(s.earned, dec("5000.00"));
        let summed = Economics {
            combination: Combination::Sum,
            ..e
        };
        let s = compute(
            &summed,
            &[usage("DE", 500_000, 1_000_000, "100000.00", 20_000)],
            Carried::default(),
            false,
        )
        .expect("statement");
        assert_eq!(s.lines[0].basis, Basis::Sum);
        assert_eq!(s.earned, dec("9750.00"));
    }

    #[test]
    fn no_usage_earns_nothing_and_bad_lines_are_refused() {
        let e = Economics {
            revenue_share: Some(RevenueShare {
                percent: dec("50"),
                carve_out_percent: Decimal::ZERO,
            }),
            ..economics()
        };
        let s = compute(&e, &[usage("FR", 0, 0, "0", 0)], Carried::default(), false)
            .expect("statement");
        assert_eq!(
            (s.lines[0].basis, s.earned),
            (Basis::Nothing, Decimal::ZERO)
        );
        assert!(matches!(
            compute(&e, &[usage("FR", 2, 1, "1", 0)], Carried::default(), false),
            Err(RoyaltyError::LicensedExceedTotal { .. })
        ));
        assert!(matches!(
            compute(
                &e,
                &[usage("FR", 1, 1, "1", 0), usage("FR", 1, 1, "2", 0)],
                Carried::default(),
                false
            ),
            Err(RoyaltyError::Duplicate { .. })
        ));
        assert!(matches!(
            compute(&e, &[usage("FR", 1, 1, "-1", 0)], Carried::default(), false),
            Err(RoyaltyError::NegativeRevenue { .. })
        ));
    }

    #[test]
    fn a_per_period_guarantee_tops_up_each_short_period() {
        let e = Economics {
            per_stream_floor: Some(dec("0.01")),
            minimum_guarantee: Some(MinimumGuarantee {
                amount: dec("1000.00"),
                scope: GuaranteeScope::PerPeriod,
            }),
            ..economics()
        };
        let short = compute(
            &e,
            &[usage("US", 40_000, 40_000, "0", 0)],
            Carried::default(),
            false,
        )
        .expect("s");
        assert_eq!(
            (short.earned, short.guarantee_top_up, short.payable),
            (dec("400.00"), dec("600.00"), dec("1000.00"))
        );
        let long = compute(
            &e,
            &[usage("US", 400_000, 400_000, "0", 0)],
            short.carried,
            false,
        )
        .expect("s");
        assert_eq!(
            (long.guarantee_top_up, long.payable),
            (Decimal::ZERO, dec("4000.00"))
        );
    }

    fn arbitrary_line() -> impl Strategy<Value = UsageLine> {
        (
            prop::sample::select(vec!["US", "BR", "JP", "DE", "CN", "HK"]),
            0u64..5_000_000,
            0u64..5_000_000,
            0i64..100_000_000,
            0u64..1_000_000,
        )
            .prop_map(|(territory, a, b, cents, subscribers)| {
                let (licensed, total) = if a <= b { (a, b) } else { (b, a) };
                usage(
                    territory,
                    licensed,
                    total,
                    &Decimal::new(cents, 2).to_string(),
                    subscribers,
                )
            })
    }

    fn arbitrary_economics() -> impl Strategy<Value = Economics> {
        (
            prop::option::of((1i64..10_000_000, any::<bool>())),
            prop::option::of((1i64..10_000_000, any::<bool>())),
            prop::option::of((1i64..10_000, 0i64..5_000)),
            prop::option::of(1i64..100_000),
            prop::option::of(1i64..10_000),
            any::<bool>(),
        )
            .prop_map(
                |(advance, guarantee, share, stream, subscriber, sum)| Economics {
                    advance: advance.map(|(cents, recoupable)| Advance {
                        amount: Decimal::new(cents, 2),
                        recoupable,
                    }),
                    minimum_guarantee: guarantee.map(|(cents, per_period)| MinimumGuarantee {
                        amount: Decimal::new(cents, 2),
                        scope: if per_period {
                            GuaranteeScope::PerPeriod
                        } else {
                            GuaranteeScope::Term
                        },
                    }),
                    revenue_share: share.map(|(percent, carve)| RevenueShare {
                        percent: Decimal::new(percent, 2),
                        carve_out_percent: Decimal::new(carve, 2),
                    }),
                    per_stream_floor: stream.map(|r| Decimal::new(r, 7)),
                    per_subscriber_floor: subscriber.map(|r| Decimal::new(r, 4)),
                    combination: if sum {
                        Combination::Sum
                    } else {
                        Combination::GreaterOf
                    },
                    ..economics()
                },
            )
    }

    /// A term of periods, each with lines of distinct territories.
    fn arbitrary_term() -> impl Strategy<Value = Vec<Vec<UsageLine>>> {
        prop::collection::vec(prop::collection::vec(arbitrary_line(), 0..6), 1..9).prop_map(
            |periods| {
                periods
                    .into_iter()
                    .map(|mut lines| {
                        let mut seen = BTreeSet::new();
                        lines.retain(|l| seen.insert(l.territory));
                        lines
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn lines_add_up_and_each_is_rounded_once(e in arbitrary_economics(), lines in arbitrary_term()) {
            for period in &lines {
                let s = compute(&e, period, Carried::default(), false).expect("statement");
                let sum: Decimal = s.lines.iter().map(|l| l.amount).sum();
                prop_assert_eq!(sum, s.earned);
                for l in &s.lines {
                    prop_assert_eq!(l.amount, e.currency.round(l.amount));
                    prop_assert!(l.amount >= Decimal::ZERO);
                    if e.combination == Combination::GreaterOf {
                        for candidate in [l.revenue_share, l.per_stream_floor, l.per_subscriber_floor] {
                            prop_assert!(l.amount >= e.currency.round(candidate));
                        }
                    }
                }
            }
        }

        #[test]
        fn recoupment_stays_within_the_advance_and_the_term_pays_its_guarantee(
            e in arbitrary_economics(),
            term in arbitrary_term(),
        ) {
            let advance = e.recoupable_advance();
            let mut carried = Carried::default();
            let (mut paid, mut earned) = (Decimal::ZERO, Decimal::ZERO);
            for (i, period) in term.iter().enumerate() {
                let s = compute(&e, period, carried, i + 1 == term.len()).expect("statement");
                prop_assert!(s.recouped >= Decimal::ZERO);
                prop_assert!(s.unrecouped >= Decimal::ZERO);
                prop_assert!(s.carried.recouped_to_date <= advance);
                prop_assert!(s.payable >= Decimal::ZERO);
                prop_assert_eq!(s.carried.recouped_to_date + s.unrecouped, advance);
                paid += s.payable;
                earned += s.earned + if matches!(e.minimum_guarantee, Some(g) if g.scope == GuaranteeScope::PerPeriod) { s.guarantee_top_up } else { Decimal::ZERO };
                carried = s.carried;
            }
            // Royalties received over the term, the recoupable advance included.
            let received = advance + paid;
            let mut expected = earned.max(advance);
            if let Some(g) = e.minimum_guarantee.filter(|g| g.scope == GuaranteeScope::Term) {
                expected = expected.max(g.amount);
            }
            prop_assert_eq!(received, expected);
        }

        #[test]
        fn the_same_inputs_give_the_same_statement(e in arbitrary_economics(), period in prop::collection::vec(arbitrary_line(), 0..6)) {
            let mut seen = BTreeSet::new();
            let period: Vec<UsageLine> = period.into_iter().filter(|l| seen.insert(l.territory)).collect();
            let mut reversed = period.clone();
            reversed.reverse();
            let a = compute(&e, &period, Carried::default(), true).expect("statement");
            let b = compute(&e, &reversed, Carried::default(), true).expect("statement");
            prop_assert_eq!(a, b);
        }
    }
}
