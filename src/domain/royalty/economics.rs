//! A deal's economics after signing: advance, minimum guarantee, revenue share, floors,
//! how they combine, and the accounting calendar.

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::money::Currency;
use crate::domain::period::Period;

/// An amount paid ahead of royalties, per the installment schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advance {
    pub amount: Decimal,
    /// Recouped from royalties before any is payable; otherwise a fee.
    pub recoupable: bool,
}

/// Whether a minimum guarantee holds for each accounting period or for the whole term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuaranteeScope {
    PerPeriod,
    Term,
}

/// The least the licensor receives in royalties, per period or over the term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimumGuarantee {
    pub amount: Decimal,
    pub scope: GuaranteeScope,
}

/// A share of a defined revenue base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueShare {
    /// Percent of the base, `0 < percent ≤ 100`.
    pub percent: Decimal,
    /// Percent of gross revenue taken off before the share (an advertising-sales
    /// deduction, say); the base is `gross × (1 − carve_out_percent / 100)`.
    pub carve_out_percent: Decimal,
}

/// How a line's revenue share and floors make its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combination {
    /// The largest of the revenue share and each floor (the usual rule).
    GreaterOf,
    /// Revenue share plus every floor (the floors are rates in their own right).
    Sum,
}

/// The length of an accounting period: statements are computed per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountingPeriod {
    Monthly,
    Quarterly,
}

impl AccountingPeriod {
    fn months(self) -> u32 {
        match self {
            AccountingPeriod::Monthly => 1,
            AccountingPeriod::Quarterly => 3,
        }
    }

    /// The calendar period (month, or quarter starting January, April, July, October)
    /// that contains `day`.
    pub fn containing(self, day: NaiveDate) -> Period {
        let months = self.months();
        let first_month = (day.month0() / months) * months + 1;
        let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
        let end = start
            .checked_add_months(Months::new(months))
            .and_then(|next| next.pred_opt())
            .unwrap_or(NaiveDate::MAX);
        Period { start, end }
    }

    /// The accounting periods of `term`, in order: calendar months or quarters, the
    /// first and last cut to the term.
    pub fn periods_of(self, term: Period) -> Vec<Period> {
        let mut periods = Vec::new();
        let mut day = term.start;
        loop {
            let calendar = self.containing(day);
            let end = calendar.end.min(term.end);
            periods.push(Period { start: day, end });
            match end.succ_opt() {
                Some(next) if end < term.end => day = next,
                _ => break,
            }
        }
        periods
    }
}

/// Everything a statement is computed from, besides the usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Economics {
    pub currency: Currency,
    pub advance: Option<Advance>,
    pub minimum_guarantee: Option<MinimumGuarantee>,
    pub revenue_share: Option<RevenueShare>,
    /// Amount per licensed stream.
    pub per_stream_floor: Option<Decimal>,
    /// Amount per subscriber reported on a line.
    pub per_subscriber_floor: Option<Decimal>,
    pub combination: Combination,
    pub accounting_period: AccountingPeriod,
    /// Days after a period ends by which its statement is due.
    pub statement_due_days: u32,
}

impl Economics {
    /// The economics a term sheet written before these terms existed stands for: its
    /// minimum guarantee was "recoupable against royalties" — an advance of that amount,
    /// guaranteed over the term; its per-stream rate a floor; its revenue share a share of
    /// gross revenue; combined by "greater of", accounted quarterly, due 45 days after.
    pub fn from_earlier_terms(
        currency: Currency,
        minimum_guarantee: Option<Decimal>,
        per_stream_rate: Option<Decimal>,
        revenue_share_percent: Option<Decimal>,
    ) -> Economics {
        Economics {
            currency,
            advance: minimum_guarantee.map(|amount| Advance {
                amount,
                recoupable: true,
            }),
            minimum_guarantee: minimum_guarantee.map(|amount| MinimumGuarantee {
                amount,
                scope: GuaranteeScope::Term,
            }),
            revenue_share: revenue_share_percent.map(|percent| RevenueShare {
                percent,
                carve_out_percent: Decimal::ZERO,
            }),
            per_stream_floor: per_stream_rate,
            per_subscriber_floor: None,
            combination: Combination::GreaterOf,
            accounting_period: AccountingPeriod::Quarterly,
            statement_due_days: 45,
        }
    }

    /// The recoupable part of the advance (zero without one).
    pub fn recoupable_advance(&self) -> Decimal {
        self.advance
            .filter(|a| a.recoupable)
            .map_or(Decimal::ZERO, |a| a.amount)
    }

    /// The day a period's statement is due.
    pub fn statement_due(&self, period: Period) -> NaiveDate {
        period
            .end
            .checked_add_days(chrono::Days::new(u64::from(self.statement_due_days)))
            .unwrap_or(NaiveDate::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn quarters_follow_the_calendar_and_are_cut_to_the_term() {
        let term = Period {
            start: d("2027-02-15"),
            end: d("2027-11-30"),
        };
        let quarters: Vec<(String, String)> = AccountingPeriod::Quarterly
            .periods_of(term)
            .into_iter()
            .map(|p| (p.start.to_string(), p.end.to_string()))
            .collect();
        assert_eq!(
            quarters,
            vec![
                ("2027-02-15".into(), "2027-03-31".into()),
                ("2027-04-01".into(), "2027-06-30".into()),
                ("2027-07-01".into(), "2027-09-30".into()),
                ("2027-10-01".into(), "2027-11-30".into()),
            ]
        );
        let months = AccountingPeriod::Monthly.periods_of(Period {
            start: d("2028-01-31"),
            end: d("2028-03-01"),
        });
        assert_eq!(months.len(), 3);
        assert_eq!(months[1].start, d("2028-02-01"));
        assert_eq!(months[1].end, d("2028-02-29"));
        assert_eq!(months[2].end, d("2028-03-01"));
    }

    #[test]
    fn earlier_terms_keep_their_meaning() {
        let cny = Currency::parse("CNY").expect("CNY");
        let e = Economics::from_earlier_terms(
            cny,
            Some(Decimal::new(500_000_000, 2)),
            Some(Decimal::new(45, 4)),
            None,
        );
        assert_eq!(e.recoupable_advance(), Decimal::new(500_000_000, 2));
        assert_eq!(
            e.minimum_guarantee.map(|g| g.scope),
            Some(GuaranteeScope::Term)
        );
        assert_eq!(e.per_stream_floor, Some(Decimal::new(45, 4)));
        assert_eq!(e.combination, Combination::GreaterOf);
        assert_eq!(
            e.statement_due(Period {
                start: d("2027-01-01"),
                end: d("2027-03-31")
            }),
            d("2027-05-15")
        );
    }

    proptest! {
        #[test]
        fn periods_tile_the_term_exactly(
            start in 0i64..20_000,
            length in 0i64..2_000,
            monthly in any::<bool>(),
        ) {
            let start = d("1990-01-01") + chrono::TimeDelta::days(start);
            let term = Period { start, end: start + chrono::TimeDelta::days(length) };
            let accounting = if monthly { AccountingPeriod::Monthly } else { AccountingPeriod::Quarterly };
            let periods = accounting.periods_of(term);
            prop_assert_eq!(periods[0].start, term.start);
            prop_assert_eq!(periods[periods.len() - 1].end, term.end);
            for pair in periods.windows(2) {
                prop_assert_eq!(pair[0].end.succ_opt(), Some(pair[1].start));
            }
            for p in &periods {
                prop_assert!(p.start <= p.end);
                prop_assert_eq!(accounting.containing(p.start), accounting.containing(p.end));
            }
        }
    }
}
