//! `cadenza bench royalties`: a usage report of N per-ISRC rows (over three territories)
//! read and checked against its grant, and its statement computed — the parsing and
//! arithmetic of issue #15's target (1.5 million rows under 30 s on 2 cores, memory
//! bounded); storing the report is not part of it yet.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::time::Instant;

use rust_decimal::Decimal;

use super::{peak_rss_mib, BenchError};
use crate::domain::isrc::Isrc;
use crate::domain::money::Currency;
use crate::domain::royalty::{
    compute, AccountingPeriod, Carried, Combination, Economics, RevenueShare,
};
use crate::domain::territory::Territory;
use crate::domain::usage::Usage;
use crate::import::usage_report::{read_usage_report, ReportScope};

const TERRITORIES: [&str; 3] = ["CN", "HK", "TW"];

fn isrc_text(i: u64) -> String {
    format!("CNA01{:02}{:05}", 20 + i / 100_000, i % 100_000)
}

/// The report file: per territory a summary row, then its share of the per-ISRC rows.
fn report(rows: u64) -> Vec<u8> {
    let mut out = String::from(
        "territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc\n",
    );
    let per_territory = rows / TERRITORIES.len() as u64;
    for (t, territory) in TERRITORIES.iter().enumerate() {
        let first = t as u64 * per_territory;
        let streams: u64 = (first..first + per_territory).map(|i| 1 + i % 997).sum();
        out.push_str(&format!(
            "{territory},interactive_streaming,{streams},{},{}.{:02},{},\n",
            streams * 4,
            1_000_000 + t * 250_000,
            t * 7,
            200_000 + t
        ));
        for i in first..first + per_territory {
            out.push_str(&format!(
                "{territory},interactive_streaming,{},,,,{}\n",
                1 + i % 997,
                isrc_text(i)
            ));
        }
    }
    out.into_bytes()
}

pub fn run_royalties_bench(rows: u64, out: &mut dyn Write) -> Result<(), BenchError> {
    let setup = |e: String| BenchError::Setup(e);
    let currency = Currency::parse("CNY").map_err(|e| setup(e.to_string()))?;
    let territories = crate::domain::territory::Territories::only(
        TERRITORIES
            .iter()
            .map(|t| Territory::parse(t).map_err(|e| setup(e.to_string())))
            .collect::<Result<_, _>>()?,
    )
    .ok_or_else(|| setup("no territories".into()))?;
    let usages: BTreeSet<Usage> = [Usage::InteractiveStreaming].into_iter().collect();
    let granted: HashSet<i64> = (0..rows)
        .map(|i| Isrc::parse(&isrc_text(i)).map(|isrc| isrc.key()))
        .collect::<Result<_, _>>()
        .map_err(|e| setup(e.to_string()))?;
    let covers = |isrc: &Isrc| granted.contains(&isrc.key());
    let file = report(rows);

    let started = Instant::now();
    let report = read_usage_report(
        file.as_slice(),
        &ReportScope {
            currency,
            territories: &territories,
            usages: &usages,
            covers: &covers,
        },
    )
    .map_err(|refused| setup(format!("{refused}: {:?}", refused.problems.first())))?;
    let read = started.elapsed();
    let economics = Economics {
        currency,
        advance: None,
        minimum_guarantee: None,
        revenue_share: Some(RevenueShare {
            percent: Decimal::new(60, 0),
            carve_out_percent: Decimal::ZERO,
        }),
        per_stream_floor: Some(Decimal::new(225, 5)),
        per_subscriber_floor: None,
        combination: Combination::GreaterOf,
        accounting_period: AccountingPeriod::Quarterly,
        statement_due_days: 45,
    };
    let computed = Instant::now();
    let statement = compute(&economics, &report.lines, Carried::default(), false)
        .map_err(|e| setup(e.to_string()))?;
    let compute_time = computed.elapsed();
    writeln!(out, "| measure | value |")?;
    writeln!(out, "| --- | ---: |")?;
    writeln!(out, "| per-ISRC rows | {} |", report.per_isrc.len())?;
    writeln!(
        out,
        "| file size | {:.1} MiB |",
        file.len() as f64 / 1048576.0
    )?;
    writeln!(out, "| read and checked | {:.2} s |", read.as_secs_f64())?;
    writeln!(
        out,
        "| statement computed | {:.3} ms |",
        compute_time.as_secs_f64() * 1000.0
    )?;
    writeln!(
        out,
        "| earned | {} {} |",
        currency.format_amount(statement.earned),
        currency.code()
    )?;
    if let Some(peak) = peak_rss_mib() {
        writeln!(
            out,
            "| peak RSS (file in memory included) | {peak:.0} MiB |"
        )?;
    }
    Ok(())
}
