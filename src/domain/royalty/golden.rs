//! The worked examples of `docs/royalties.md`, computed there by hand, as golden tests.
//! A change here is a change to the document, and the other way round.

use rust_decimal::Decimal;

use super::*;
use crate::domain::money::Currency;
use crate::domain::territory::Territory;
use crate::domain::usage::Usage;

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn line(territory: &str, licensed: u64, total: u64, gross: &str) -> UsageLine {
    UsageLine {
        territory: Territory::parse(territory).expect("territory"),
        usage: Usage::InteractiveStreaming,
        licensed_streams: licensed,
        total_streams: total,
        gross_revenue: dec(gross),
        subscribers: 0,
    }
}

fn base(currency: &str) -> Economics {
    Economics {
        currency: Currency::parse(currency).expect("currency"),
        advance: None,
        minimum_guarantee: None,
        revenue_share: None,
        per_stream_floor: None,
        per_subscriber_floor: None,
        combination: Combination::GreaterOf,
        accounting_period: AccountingPeriod::Quarterly,
        statement_due_days: 45,
    }
}

fn amounts(s: &Statement) -> Vec<(&'static str, Decimal, Basis)> {
    s.lines
        .iter()
        .map(|l| (l.territory.as_str(), l.amount, l.basis))
        .collect()
}

/// (a) A flat fee (paid by installments, outside statements) plus 8 % of gross revenue
/// times the usage share.
#[test]
fn a_flat_fee_plus_eight_percent_of_gross_revenue() {
    let e = Economics {
        revenue_share: Some(RevenueShare {
            percent: dec("8"),
            carve_out_percent: Decimal::ZERO,
        }),
        ..base("CNY")
    };
    let s = compute(
        &e,
        &[
            line("CN", 2_500_000, 10_000_000, "4000000.00"),
            line("HK", 1_234_567, 3_000_000, "1000000.01"),
        ],
        Carried::default(),
        false,
    )
    .expect("statement");
    assert_eq!(
        amounts(&s),
        vec![
            ("CN", dec("80000.00"), Basis::RevenueShare),
            ("HK", dec("32921.79"), Basis::RevenueShare),
        ]
    );
    assert_eq!(
        s.lines[1].revenue_share.round_dp(10),
        dec("32921.7869958845")
    );
    assert_eq!(s.earned, dec("112921.79"));
    assert_eq!(s.payable, dec("112921.79"));
}

/// (b) A recoupable advance of 100,000.00 recouped over four quarters, with a term
/// guarantee of 150,000.00 topped up at the end.
#[test]
fn a_recoupable_advance_over_four_quarters_with_a_shortfall_top_up() {
    let e = Economics {
        advance: Some(Advance {
            amount: dec("100000.00"),
            recoupable: true,
        }),
        minimum_guarantee: Some(MinimumGuarantee {
            amount: dec("150000.00"),
            scope: GuaranteeScope::Term,
        }),
        revenue_share: Some(RevenueShare {
            percent: dec("50"),
            carve_out_percent: Decimal::ZERO,
        }),
        ..base("USD")
    };
    let quarters = ["60000.00", "80000.00", "40000.00", "50000.00"];
    let expected = [
        // earned, recouped, unrecouped, top-up, payable
        ("30000.00", "30000.00", "70000.00", "0", "0.00"),
        ("40000.00", "40000.00", "30000.00", "0", "0.00"),
        ("20000.00", "20000.00", "10000.00", "0", "0.00"),
        ("25000.00", "10000.00", "0.00", "35000.00", "50000.00"),
    ];
    let mut carried = Carried::default();
    for (i, (gross, want)) in quarters.iter().zip(expected).enumerate() {
        let s = compute(
            &e,
            &[line("US", 1_000_000, 1_000_000, gross)],
            carried,
            i == 3,
        )
        .expect("statement");
        let got = (
            s.earned,
            s.recouped,
            s.unrecouped,
            s.guarantee_top_up,
            s.payable,
        );
        let want = (
            dec(want.0),
            dec(want.1),
            dec(want.2),
            dec(want.3),
            dec(want.4),
        );
        assert_eq!(got, want, "quarter {}", i + 1);
        carried = s.carried;
    }
    assert_eq!(carried.recouped_to_date, dec("100000.00"));
    assert_eq!(carried.owed_to_date, dec("115000.00"));
}

/// (c) The greater of 60 % of revenue times the usage share and 0.00225 per stream, per
/// territory: the share wins in the US, the floor in Brazil and Mexico.
#[test]
fn the_greater_of_a_revenue_share_and_a_per_stream_floor() {
    let e = Economics {
        revenue_share: Some(RevenueShare {
            percent: dec("60"),
            carve_out_percent: Decimal::ZERO,
        }),
        per_stream_floor: Some(dec("0.00225")),
        ..base("USD")
    };
    let s = compute(
        &e,
        &[
            line("US", 10_000_000, 100_000_000, "500000.00"),
            line("BR", 8_000_000, 40_000_000, "60000.00"),
            line("MX", 1_234_567, 9_876_543, "12345.67"),
        ],
        Carried::default(),
        false,
    )
    .expect("statement");
    assert_eq!(
        amounts(&s),
        vec![
            ("BR", dec("18000.00"), Basis::PerStreamFloor),
            ("MX", dec("2777.78"), Basis::PerStreamFloor),
            ("US", dec("30000.00"), Basis::RevenueShare),
        ]
    );
    let mx = &s.lines[1];
    assert_eq!(mx.per_stream_floor, dec("2777.77575"));
    assert_eq!(e.currency.round(mx.revenue_share), dec("925.92"));
    assert_eq!(s.earned, dec("50777.78"));
}
