//! A span of calendar days during which rights are held or granted.
//!
//! Both ends are INCLUSIVE, as licences are written ("from 1 January 2027 to
//! 31 December 2029"): a term ending 2027-12-31 and one starting 2027-12-31
//! share that day, so two exclusive grants for them conflict; a term starting
//! 2028-01-01 does not. Dates are calendar dates without a time zone.

use crate::domain::validation::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `start..=end`, with `end >= start` (a one-day period has `start == end`).
///
/// JSON: `{"start": "2027-01-01", "end": "2029-12-31"}`; deserializing checks
/// the order. The fields are public for reading; build with [`Period::new`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "UncheckedPeriod")]
pub struct Period {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the period ends on {end}, before it starts on {start}")]
    EndsBeforeStart { start: NaiveDate, end: NaiveDate },
}

impl Period {
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Period, PeriodError> {
        if end < start {
            return Err(PeriodError::EndsBeforeStart { start, end });
        }
        Ok(Period { start, end })
    }

    /// [`Period::new`] reporting a reversed period as a field error on
    /// `end_field` (e.g. `"terms.end_date"`), for request validation.
    pub fn validate(
        start: NaiveDate,
        end: NaiveDate,
        end_field: &str,
    ) -> Result<Period, ValidationErrors> {
        Period::new(start, end).map_err(|_| {
            ValidationErrors::single(
                end_field,
                format!("must be on or after the start date ({start}); both dates are inclusive"),
            )
        })
    }

    pub fn single_day(day: NaiveDate) -> Period {
        Period {
            start: day,
            end: day,
        }
    }

    /// Whether the two periods share at least one day.
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Whether every day of `other` is in `self` (a holding must contain the
    /// term licensed out of it).
    pub fn contains(&self, other: &Period) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn contains_date(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// The shared days, or `None` when the periods do not overlap.
    pub fn intersection(&self, other: &Period) -> Option<Period> {
        Period::new(self.start.max(other.start), self.end.min(other.end)).ok()
    }

    /// Number of days, counting both ends (2027-01-01..=2027-01-01 is 1 day,
    /// the year 2028 is 366).
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Whether the last day is before `today` (the term is over).
    pub fn has_ended_before(&self, today: NaiveDate) -> bool {
        self.end < today
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {} (inclusive)", self.start, self.end)
    }
}

/// The JSON shape before the `end >= start` check.
#[derive(Deserialize)]
struct UncheckedPeriod {
    start: NaiveDate,
    end: NaiveDate,
}

impl TryFrom<UncheckedPeriod> for Period {
    type Error = PeriodError;
    fn try_from(raw: UncheckedPeriod) -> Result<Self, Self::Error> {
        Period::new(raw.start, raw.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn p(start: &str, end: &str) -> Period {
        Period::new(d(start), d(end)).unwrap()
    }

    #[test]
    fn end_may_equal_start_but_not_precede_it() {
        assert!(Period::new(d("2027-01-01"), d("2027-01-01")).is_ok());
        assert_eq!(
            Period::new(d("2027-01-02"), d("2027-01-01")),
            Err(PeriodError::EndsBeforeStart {
                start: d("2027-01-02"),
                end: d("2027-01-01")
            })
        );
        assert_eq!(
            Period::single_day(d("2027-05-05")),
            p("2027-05-05", "2027-05-05")
        );
    }

    #[test]
    fn validate_names_the_end_field() {
        let errors =
            Period::validate(d("2027-01-02"), d("2027-01-01"), "terms.end_date").unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "terms.end_date");
        assert!(errors.0[0].message.contains("2027-01-02"));
        assert!(Period::validate(d("2027-01-01"), d("2027-01-01"), "end_date").is_ok());
    }

    #[test]
    fn boundaries_are_inclusive() {
        let a = p("2027-01-01", "2027-12-31");
        assert!(a.overlaps(&p("2027-12-31", "2028-12-31")));
        assert!(!a.overlaps(&p("2028-01-01", "2028-12-31")));
        assert!(a.overlaps(&p("2026-01-01", "2027-01-01")));
        assert!(!a.overlaps(&p("2026-01-01", "2026-12-31")));
        assert!(a.contains_date(d("2027-01-01")));
        assert!(a.contains_date(d("2027-12-31")));
        assert!(!a.contains_date(d("2028-01-01")));
        assert!(!a.contains_date(d("2026-12-31")));
    }

    #[test]
    fn contains() {
        let holding = p("2027-01-01", "2029-12-31");
        assert!(holding.contains(&holding));
        assert!(holding.contains(&p("2027-01-01", "2027-12-31")));
        assert!(holding.contains(&p("2029-12-31", "2029-12-31")));
        assert!(!holding.contains(&p("2026-12-31", "2027-12-31")));
        assert!(!holding.contains(&p("2029-01-01", "2030-01-01")));
        assert!(!p("2027-06-01", "2027-06-30").contains(&holding));
    }

    #[test]
    fn intersection() {
        let a = p("2027-01-01", "2027-12-31");
        assert_eq!(
            a.intersection(&p("2027-12-31", "2028-06-30")),
            Some(p("2027-12-31", "2027-12-31"))
        );
        assert_eq!(
            a.intersection(&p("2027-06-01", "2028-06-30")),
            Some(p("2027-06-01", "2027-12-31"))
        );
        assert_eq!(a.intersection(&p("2028-01-01", "2028-06-30")), None);
        assert_eq!(a.intersection(&a), Some(a));
    }

    #[test]
    fn days_count_both_ends() {
        assert_eq!(p("2027-01-01", "2027-01-01").days(), 1);
        assert_eq!(p("2027-01-01", "2027-01-02").days(), 2);
        assert_eq!(p("2027-01-01", "2027-12-31").days(), 365);
        assert_eq!(p("2028-01-01", "2028-12-31").days(), 366);
        assert_eq!(p("2027-01-01", "2029-12-31").days(), 365 * 2 + 366);
    }

    #[test]
    fn has_ended_before() {
        let a = p("2027-01-01", "2027-12-31");
        assert!(!a.has_ended_before(d("2027-12-31")));
        assert!(a.has_ended_before(d("2028-01-01")));
    }

    #[test]
    fn json() {
        let a = p("2027-01-01", "2029-12-31");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"start":"2027-01-01","end":"2029-12-31"}"#);
        assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), a);
        let err = serde_json::from_str::<Period>(r#"{"start":"2027-01-02","end":"2027-01-01"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("before it starts"), "{err}");
        assert!(
            serde_json::from_str::<Period>(r#"{"start":"2027-02-30","end":"2027-03-01"}"#).is_err()
        );
        assert!(serde_json::from_str::<Period>(r#"{"start":"2027-01-01"}"#).is_err());
    }

    #[test]
    fn display() {
        assert_eq!(
            p("2027-01-01", "2029-12-31").to_string(),
            "2027-01-01 to 2029-12-31 (inclusive)"
        );
    }

    fn period() -> impl Strategy<Value = Period> {
        // Small spans over a few years so overlaps, touches and gaps all occur.
        (0_i64..1500, 0_i64..400).prop_map(|(offset, len)| {
            let origin = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let start = origin + chrono::Days::new(offset as u64);
            Period::new(start, start + chrono::Days::new(len as u64)).unwrap()
        })
    }

    proptest! {
        #[test]
        fn overlaps_is_symmetric(a in period(), b in period()) {
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        }

        #[test]
        fn contains_implies_overlaps(a in period(), b in period()) {
            if a.contains(&b) {
                prop_assert!(a.overlaps(&b));
                prop_assert!(a.days() >= b.days());
            }
            prop_assert!(a.contains(&a));
        }

        #[test]
        fn intersection_agrees_with_overlaps(a in period(), b in period()) {
            let common = a.intersection(&b);
            prop_assert_eq!(common.is_some(), a.overlaps(&b));
            prop_assert_eq!(common, b.intersection(&a));
            if let Some(common) = common {
                prop_assert!(a.contains(&common) && b.contains(&common));
                prop_assert!(common.days() <= a.days().min(b.days()));
            }
        }

        #[test]
        fn overlaps_means_a_shared_day(a in period(), b in period()) {
            let shared = a.start.iter_days().take_while(|day| *day <= a.end).any(|day| b.contains_date(day));
            prop_assert_eq!(a.overlaps(&b), shared);
        }

        #[test]
        fn json_round_trips(a in period()) {
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), a);
        }
    }
}
