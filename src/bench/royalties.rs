//! `cadenza bench royalties`: a usage report of N per-ISRC rows (over three territories)
//! read and checked against its grant, and its statement computed — issue #15's target
//! (1.5 million rows under 30 s on 2 cores, memory bounded). Measured twice: the reader
//! and the arithmetic alone, in memory; then the whole upload (`royalties::upload_report`,
//! CSV and DDEX DSR) against a grant of as many recordings signed through the real deal
//! flow, stored in a database.

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

pub fn run_royalties_bench(
    database_url: &str,
    rows: u64,
    work_dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
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
    stored_upload(database_url, rows, work_dir, out)
}

/// The whole upload, as the endpoint runs it: a catalog of `rows` generated tracks,
/// a deal over all of them signed through the deal flow, then a quarter's report of
/// every granted recording uploaded as CSV and, as a correction, as a DSR file.
fn stored_upload(
    database_url: &str,
    rows: u64,
    work_dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    use crate::deals::{self, Member, Origin, Payload};
    use crate::domain::deal::{Action, Party};
    use crate::domain::role::Role;
    use crate::import::usage_report::ReportLayout;
    use crate::royalties::{upload_report, ReportFor};

    let target = crate::db::DatabaseTarget::parse(database_url)?;
    let db = crate::db::Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let at = crate::db::now();
    let mut member = |name: &str| -> Result<Member, BenchError> {
        let org = crate::db::accounts::Organization {
            id: crate::db::new_id(),
            name: name.into(),
            kind: "platform".into(),
            created_at: at,
        };
        crate::db::accounts::insert_organization(&mut conn, &org)?;
        Ok(Member {
            user_id: crate::db::new_id(),
            name: "Bench".into(),
            organization_id: org.id,
            role: Role::Owner,
        })
    };
    let licensor = member("Royalties Licensor")?;
    let licensee = member("Royalties Licensee")?;
    let catalog =
        super::import_generated(&mut conn, &licensor.organization_id, rows, 21, work_dir)?;
    let all = crate::db::catalogs::catalog_tracks(&mut conn, catalog.no)?;
    let slice =
        crate::catalogs::slices::new_slice(&mut conn, &catalog, "all".into(), "{}".into(), &all)?;
    crate::db::catalogs::insert_slice(&mut conn, &slice)?;

    let terms: crate::domain::terms::TermSheetInput = serde_json::from_value(serde_json::json!({
        "slice_id": slice.id, "territories": TERRITORIES, "usages": ["interactive_streaming"],
        "start_date": "2027-01-01", "end_date": "2027-12-31", "exclusive": false,
        "sublicensable": false, "currency": "CNY", "upfront_fee": null, "clauses": null,
        "respond_by": null, "installments": [],
        "royalties": {"revenue_share": {"percent": "60"}, "per_stream_floor": "0.00225",
            "combination": "greater_of", "accounting_period": "quarterly", "statement_due_days": 45}
    }))
    .map_err(|e| BenchError::Setup(e.to_string()))?;
    let rules = crate::domain::market_rules::MarketRules::none();
    let bench_err = |e: deals::DealError| BenchError::Setup(e.to_string());
    let mut deal = deals::open(
        &mut conn,
        &licensee,
        &rules,
        Origin::Direct {
            counterparty_id: licensor.organization_id.clone(),
            role: Party::Licensee,
        },
        Some(terms),
        None,
    )
    .map_err(bench_err)?
    .deal;
    let mut grant_id = None;
    for (who, action) in [
        (&licensee, Action::Submit),
        (&licensor, Action::Accept),
        (&licensee, Action::Sign),
        (&licensor, Action::Sign),
    ] {
        let hash = crate::db::deals::find_revision(&mut conn, &deal.id, deal.revision)?
            .map(|r| r.terms_hash);
        let payload = Payload {
            terms_hash: hash.filter(|_| action == Action::Sign),
            ..Payload::default()
        };
        let done = deals::transition(
            &mut conn,
            who,
            &rules,
            &deal.id,
            deal.version,
            action,
            payload,
        )
        .map_err(bench_err)?;
        grant_id = done.grant_id.or(grant_id);
        deal = done.deal;
    }
    let grant_id = grant_id.ok_or_else(|| BenchError::Setup("the deal did not execute".into()))?;

    // A quarter's report of every granted recording, in both layouts.
    let isrcs: Vec<String> = slice
        .recording_set()?
        .isrcs()
        .map(Isrc::into_string)
        .collect();
    let share = isrcs.len().div_ceil(TERRITORIES.len()).max(1);
    let (mut csv, mut dsr) = (
        String::from("territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc\n"),
        String::from("HEAD\tdsrf/1.1.2/6/1.0\tBasicAudioProfile\t1.3\tBENCH\t2027-04-01T00:00:00Z\t1\t1\t2027-01-01\t2027-03-31\n"),
    );
    for (t, (territory, chunk)) in TERRITORIES.iter().zip(isrcs.chunks(share)).enumerate() {
        let streams = |i: usize| 1 + (i % 997) as u64;
        let total: u64 = (0..chunk.len()).map(streams).sum();
        csv.push_str(&format!(
            "{territory},interactive_streaming,{total},{},1000000.00,{},\n",
            total * 4,
            200_000 + t
        ));
        dsr.push_str(&format!("SY03\tS{t}\t\t\tSubscriptionModel\tStream\t{territory}\tPremium\t{total}\t{}\t{}\tCNY\t1000000.00\n", 200_000 + t, total * 4));
        for (i, isrc) in chunk.iter().enumerate() {
            csv.push_str(&format!(
                "{territory},interactive_streaming,{},,,,{isrc}\n",
                streams(i)
            ));
            dsr.push_str(&format!("SR01\tS{t}\tR{i}\t{isrc}\t\t{}\n", streams(i)));
        }
    }
    dsr.push_str("FOOT\n");
    let period_start = chrono::NaiveDate::from_ymd_opt(2027, 1, 1)
        .ok_or_else(|| BenchError::Setup("date".into()))?;
    for (label, layout, body) in [
        ("CSV", ReportLayout::Csv, csv.as_bytes()),
        (
            "DDEX DSR, as a correction (every later statement recomputed)",
            ReportLayout::Dsr,
            dsr.as_bytes(),
        ),
    ] {
        let started = Instant::now();
        let uploaded = upload_report(
            &mut conn,
            &licensee.organization_id,
            &licensee.user_id,
            Role::Owner,
            ReportFor {
                grant_id: &grant_id,
                period_start,
                layout,
            },
            body,
        )
        .map_err(|e| BenchError::Setup(e.to_string()))?;
        writeln!(
            out,
            "| upload stored, {label}: {} per-ISRC rows, {:.1} MiB, statement earned {} | {:.2} s |",
            uploaded.report.isrc_rows,
            body.len() as f64 / 1048576.0,
            uploaded
                .statements
                .first()
                .map_or(0, |s| s.earned_minor),
            started.elapsed().as_secs_f64()
        )?;
    }
    if let Some(peak) = peak_rss_mib() {
        writeln!(out, "| peak RSS, whole run | {peak:.0} MiB |")?;
    }
    Ok(())
}
