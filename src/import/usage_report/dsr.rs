//! A usage report in the tab-separated flat-file layout of DDEX DSR (Digital Sales
//! Reporting), as far as Cadenza reads it: a documented subset of its record types
//! (`docs/royalties.md`, "DDEX DSR flat files").
//!
//! One record a line, cells separated by TAB, the record type in the first cell (its
//! version suffix, `SY03.01`, is accepted whatever it is); blank lines are skipped.
//!
//! | record | cells read (1-based) |
//! | --- | --- |
//! | `HEAD` (first, once) | 9 StartOfPeriod, 10 EndOfPeriod (`YYYY-MM-DD`): the accounting period |
//! | `SY03` summary | 2 SummaryRecordId, 6 UseType, 7 Territory, 9 TotalUsages (the licensed recordings' streams); Cadenza's profile adds 10 Subscribers, 11 TotalUsagesOnService (all the licensee's streams there), 12 Currency, 13 GrossRevenue |
//! | `SR01` per recording | 2 SummaryRecordId (an earlier `SY03`), 4 ResourceISRC; Cadenza's profile adds 6 NumberOfUsages |
//! | `FOOT` | none (it ends the file) |
//!
//! Any other record type refuses the file: a statement computed from part of what
//! the licensee sent would be wrong.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use super::{IsrcCells, ReportBuilder, ReportRefused, ReportScope, SummaryCells, UsageReport};
use crate::domain::period::Period;
use crate::domain::usage::Usage;

/// The usage a DSR UseType stands for (its allowed-value names), if it is one.
/// Cadenza's own usage names are accepted too.
fn use_type(cell: &str) -> Option<Usage> {
    match cell {
        "Stream" | "OnDemandStream" => Some(Usage::InteractiveStreaming),
        "NonInteractiveStream" | "Webcast" => Some(Usage::NonInteractiveStreaming),
        "PermanentDownload" | "Download" => Some(Usage::Download),
        "DisplayLyrics" => Some(Usage::Lyrics),
        "Ringtone" => Some(Usage::Ringtone),
        _ => None,
    }
}

/// A record's type without its version suffix.
fn record_type(cell: &str) -> &str {
    cell.split_once('.').map_or(cell, |(kind, _)| kind)
}

/// Cell `n` (1-based) of a record, empty when the record is shorter.
fn cell<'c>(cells: &[&'c str], n: usize) -> &'c str {
    cells.get(n - 1).copied().unwrap_or("").trim()
}

/// Reads a whole DSR flat file reporting on `period`; `Err` lists why it cannot be
/// taken, by line and field.
pub fn read_dsr_report(
    input: impl Read,
    scope: &ReportScope<'_>,
    period: Period,
) -> Result<UsageReport, ReportRefused> {
    let mut report = ReportBuilder::new(scope);
    let mut reader = BufReader::with_capacity(1 << 16, input);
    // Summary record id → its territory and usage cells (SR01 rows inherit them).
    let mut summaries: HashMap<String, (String, String)> = HashMap::new();
    let mut raw = Vec::new();
    let (mut line, mut head_seen, mut footer_at) = (0u64, false, None);
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => line += 1,
            Err(e) => {
                report.problem(line + 1, "row", format!("unreadable: {e}"));
                break;
            }
        }
        let Ok(text) = std::str::from_utf8(&raw) else {
            report.problem(line, "row", "is not valid UTF-8");
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if let Some(footer) = footer_at {
            report.problem(
                line,
                "record_type",
                format!("follows the FOOT record on line {footer}"),
            );
            continue;
        }
        let cells: Vec<&str> = text.split('\t').collect();
        match record_type(cells[0]) {
            "HEAD" if !head_seen && line == 1 => {
                head_seen = true;
                check_period(&mut report, line, &cells, period);
            }
            "HEAD" => report.problem(line, "record_type", "HEAD must be the first record, once"),
            _ if !head_seen => {
                head_seen = true; // reported once
                report.problem(
                    line,
                    "record_type",
                    "the file must start with a HEAD record",
                );
            }
            "SY03" => {
                let id = cell(&cells, 2);
                let usage = use_type(cell(&cells, 6))
                    .map_or_else(|| cell(&cells, 6).to_string(), |u| u.as_str().to_string());
                let territory = cell(&cells, 7).to_string();
                if id.is_empty() {
                    report.problem(line, "summary_record_id", "is required");
                } else if summaries.contains_key(id) {
                    report.problem(line, "summary_record_id", format!("{id} is used twice"));
                } else {
                    summaries.insert(id.to_string(), (territory.clone(), usage.clone()));
                }
                let currency = cell(&cells, 12);
                if currency != scope.currency.code() {
                    report.problem(
                        line,
                        "currency",
                        format!("must be the grant's currency, {}", scope.currency.code()),
                    );
                }
                report.summary(
                    line,
                    SummaryCells {
                        territory: &territory,
                        usage: &usage,
                        licensed_streams: cell(&cells, 9),
                        total_streams: cell(&cells, 11),
                        gross_revenue: cell(&cells, 13),
                        subscribers: cell(&cells, 10),
                    },
                );
            }
            "SR01" => {
                let id = cell(&cells, 2);
                let Some((territory, usage)) = summaries.get(id) else {
                    report.problem(
                        line,
                        "summary_record_id",
                        format!("`{id}` names no SY03 record before this line"),
                    );
                    continue;
                };
                report.isrc_row(
                    line,
                    IsrcCells {
                        territory,
                        usage,
                        streams: cell(&cells, 6),
                        isrc: cell(&cells, 4),
                    },
                );
            }
            "FOOT" => footer_at = Some(line),
            other => report.problem(
                line,
                "record_type",
                format!("{other} is not a record type Cadenza reads (HEAD, SY03, SR01, FOOT)"),
            ),
        }
    }
    if !head_seen {
        report.problem(1, "record_type", "the file must start with a HEAD record");
    }
    report.finish()
}

/// HEAD's reporting period must be the accounting period reported on.
fn check_period(report: &mut ReportBuilder<'_>, line: u64, cells: &[&str], period: Period) {
    for (n, field, expected) in [
        (9, "start_of_period", period.start),
        (10, "end_of_period", period.end),
    ] {
        let text = cell(cells, n);
        match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(day) if day == expected => {}
            Ok(day) => report.problem(
                line,
                field,
                format!("{day} is not the accounting period's {expected}"),
            ),
            Err(_) => report.problem(
                line,
                field,
                format!("must be a date as YYYY-MM-DD (got `{text}`)"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::isrc::Isrc;
    use crate::domain::money::Currency;
    use crate::domain::territory::{Territories, Territory};

    fn quarter() -> Period {
        Period {
            start: NaiveDate::from_ymd_opt(2027, 1, 1).expect("date"),
            end: NaiveDate::from_ymd_opt(2027, 3, 31).expect("date"),
        }
    }

    fn read(tsv: &str) -> Result<UsageReport, ReportRefused> {
        let territories = Territories::only(
            ["CN", "HK"]
                .iter()
                .map(|t| Territory::parse(t).expect("territory"))
                .collect(),
        )
        .expect("non-empty");
        let usages: BTreeSet<Usage> = [Usage::InteractiveStreaming].into_iter().collect();
        let covers = |isrc: &Isrc| isrc.as_str().starts_with("CNA0124");
        read_dsr_report(
            tsv.as_bytes(),
            &ReportScope {
                currency: Currency::parse("CNY").expect("CNY"),
                territories: &territories,
                usages: &usages,
                covers: &covers,
            },
            quarter(),
        )
    }

    const HEAD: &str = "HEAD\tdsrf/1.1.2/6/1.0\tBasicAudioProfile\t1.3\tMSG-1\t2027-04-02T10:00:00Z\t1\t1\t2027-01-01\t2027-03-31\tPADPIDA0000000001\tLicensee\n";

    fn problems(tsv: &str) -> Vec<(u64, String)> {
        read(tsv)
            .expect_err("refused")
            .problems
            .into_iter()
            .map(|p| (p.line, p.field))
            .collect()
    }

    #[test]
    fn a_good_file_reads_like_the_same_csv() {
        let report = read(&format!(
            "{HEAD}SY03.01\tS1\t\t\tSubscriptionModel\tStream\tCN\tPremium\t300\t40\t1000\tCNY\t5000.00\n\
             SR01.02\tS1\tR1\tCNA012400001\tSong\t100\n\
             SR01.02\tS1\tR2\tCNA012400002\tOther\t200\n\
             \n\
             SY03.01\tS2\t\t\tSubscriptionModel\tinteractive_streaming\tHK\tPremium\t0\t0\t10\tCNY\t1.5\n\
             FOOT\t5\n"
        ))
        .expect("taken");
        assert_eq!(report.lines.len(), 2);
        assert_eq!(report.lines[0].territory.as_str(), "CN");
        assert_eq!(report.lines[0].licensed_streams, 300);
        assert_eq!(report.lines[0].total_streams, 1000);
        assert_eq!(report.lines[0].subscribers, 40);
        assert_eq!(report.lines[0].gross_revenue, Decimal::new(500_000, 2));
        assert_eq!(report.lines[1].gross_revenue, Decimal::new(15, 1));
        assert_eq!(report.per_isrc.len(), 2);
        assert_eq!(report.per_isrc[1].streams, 200);
    }

    #[test]
    fn every_bad_record_is_named_by_line_and_nothing_is_taken() {
        let found = problems(
            "HEAD\tv\tp\t1\tM\tt\t1\t1\t2027-01-01\t2027-06-30\n\
             SY03\tS1\t\t\tSubscriptionModel\tStream\tJP\tPremium\t3\t1\t10\tCNY\t1.00\n\
             SY03\tS2\t\t\tSubscriptionModel\tPermanentDownload\tCN\tPremium\t3\t1\t10\tUSD\t-1\n\
             SY03\tS2\t\t\tSubscriptionModel\tStream\tCN\tPremium\t30\t1\t10\tCNY\t1.00\n\
             SR01\tS9\tR\tCNA012400001\tt\t1\n\
             SR01\tS2\tR\tUSA012400001\tt\t1\n\
             RE01\t1\n\
             FOOT\n\
             SY03\tS3\n",
        );
        assert_eq!(
            found,
            vec![
                (1, "end_of_period".into()),
                (2, "territory".into()),
                (3, "currency".into()),
                (3, "usage".into()),
                (3, "gross_revenue".into()),
                (4, "summary_record_id".into()),
                (4, "licensed_streams".into()),
                (5, "summary_record_id".into()),
                (6, "usage".into()),
                (6, "isrc".into()),
                (7, "record_type".into()),
                (9, "record_type".into()),
            ]
        );
    }

    #[test]
    fn the_file_starts_with_its_header() {
        assert_eq!(problems(""), vec![(1, "record_type".into())]);
        assert_eq!(problems("SY03\tS1\n"), vec![(1, "record_type".into())]);
    }
}
