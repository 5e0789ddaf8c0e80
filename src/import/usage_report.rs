//! Reading a licensee's usage report (CSV) for one grant and accounting period, streamed,
//! every bad line reported by line and field.
//!
//! Columns (header required, in this order; `docs/royalties.md`, "Usage reports"):
//! `territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc`.
//!
//! - A **summary row** leaves `isrc` empty: the period's figures for one territory and
//!   usage. Each (territory, usage) has at most one.
//! - A **per-ISRC row** fills `isrc` and `licensed_streams` only (the other figures empty):
//!   that recording's streams. When a territory and usage has per-ISRC rows, they must add
//!   up to its summary's `licensed_streams`.
//!
//! A statement from part of a report would be wrong, so a report is taken whole or not at
//! all: any bad line refuses the report, and every bad line is listed (the first
//! [`MAX_PROBLEMS_LISTED`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use rust_decimal::Decimal;

use crate::domain::isrc::Isrc;
use crate::domain::money::Currency;
use crate::domain::royalty::UsageLine;
use crate::domain::territory::{Territories, Territory};
use crate::domain::usage::Usage;

pub const COLUMNS: [&str; 7] = [
    "territory",
    "usage",
    "licensed_streams",
    "total_streams",
    "gross_revenue",
    "subscribers",
    "isrc",
];
/// Problems listed one by one; past this only the count grows.
pub const MAX_PROBLEMS_LISTED: usize = 1_000;

/// What a report is checked against: the grant it reports on.
pub struct ReportScope<'a> {
    pub currency: Currency,
    pub territories: &'a Territories,
    pub usages: &'a BTreeSet<Usage>,
    /// Whether the grant covers a recording.
    pub covers: &'a dyn Fn(&Isrc) -> bool,
}

/// One recording's streams in one territory and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrcStreams {
    pub territory: Territory,
    pub usage: Usage,
    pub isrc: Isrc,
    pub streams: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// One per territory and usage, in that order.
    pub lines: Vec<UsageLine>,
    pub per_isrc: Vec<IsrcStreams>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportProblem {
    /// 1-based; the header is line 1.
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// Why a report was refused: every problem found (the first [`MAX_PROBLEMS_LISTED`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the usage report has {count} problem(s)")]
pub struct ReportRefused {
    pub problems: Vec<ReportProblem>,
    pub count: u64,
}

impl ReportRefused {
    fn push(&mut self, line: u64, field: &str, message: impl Into<String>) {
        self.count += 1;
        if self.problems.len() < MAX_PROBLEMS_LISTED {
            self.problems.push(ReportProblem {
                line,
                field: field.to_string(),
                message: message.into(),
            });
        }
    }
}

/// A summary row's figures, with the line it came from.
struct Summary {
    line: u64,
    usage: UsageLine,
}

/// Reads a whole report; `Err` lists why it cannot be taken.
pub fn read_usage_report(
    input: impl Read,
    scope: &ReportScope<'_>,
) -> Result<UsageReport, ReportRefused> {
    let mut refused = ReportRefused {
        problems: Vec::new(),
        count: 0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = reader.byte_records();
    match records.next() {
        Some(Ok(header)) if header.iter().eq(COLUMNS.iter().map(|c| c.as_bytes())) => {}
        Some(Err(e)) => refused.push(1, "header", format!("unreadable CSV: {e}")),
        _ => refused.push(
            1,
            "header",
            format!("the first line must be `{}`", COLUMNS.join(",")),
        ),
    }
    if refused.count > 0 {
        return Err(refused);
    }

    let mut summaries: BTreeMap<(Territory, Usage), Summary> = BTreeMap::new();
    let mut per_isrc = Vec::new();
    let mut isrc_sums: BTreeMap<(Territory, Usage), u64> = BTreeMap::new();
    // By the ISRC's integer key: a report may carry millions of per-ISRC rows.
    let mut seen_isrcs: std::collections::HashSet<(Territory, Usage, i64)> =
        std::collections::HashSet::new();
    for (index, record) in records.enumerate() {
        let line = index as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                refused.push(line, "row", format!("unreadable CSV: {e}"));
                continue;
            }
        };
        if record.len() != COLUMNS.len() {
            refused.push(
                line,
                "row",
                format!("expected {} fields, found {}", COLUMNS.len(), record.len()),
            );
            continue;
        }
        let mut cells = Vec::with_capacity(COLUMNS.len());
        for (column, raw) in COLUMNS.iter().zip(record.iter()) {
            match std::str::from_utf8(raw) {
                Ok(text) => cells.push(text.trim()),
                Err(_) => {
                    refused.push(line, column, "is not valid UTF-8");
                    cells.push("");
                }
            }
        }
        let before = refused.count;
        let territory = parse_territory(&mut refused, line, cells[0], scope);
        let usage = parse_usage(&mut refused, line, cells[1], scope);
        let licensed = parse_count(&mut refused, line, "licensed_streams", cells[2]);
        if cells[6].is_empty() {
            let total = parse_count(&mut refused, line, "total_streams", cells[3]);
            let gross = parse_revenue(&mut refused, line, cells[4], scope.currency);
            let subscribers = parse_count(&mut refused, line, "subscribers", cells[5]);
            if let (Some(l), Some(t)) = (licensed, total) {
                if l > t {
                    refused.push(line, "licensed_streams", "must not exceed total_streams");
                }
            }
            let (
                Some(territory),
                Some(usage),
                Some(licensed_streams),
                Some(total_streams),
                Some(gross_revenue),
                Some(subscribers),
            ) = (territory, usage, licensed, total, gross, subscribers)
            else {
                continue;
            };
            if refused.count > before {
                continue;
            }
            if let Some(first) = summaries.get(&(territory, usage)) {
                refused.push(
                    line,
                    "usage",
                    format!(
                        "{territory} {usage} is already reported on line {}",
                        first.line
                    ),
                );
                continue;
            }
            summaries.insert(
                (territory, usage),
                Summary {
                    line,
                    usage: UsageLine {
                        territory,
                        usage,
                        licensed_streams,
                        total_streams,
                        gross_revenue,
                        subscribers,
                    },
                },
            );
        } else {
            for (column, cell) in [
                ("total_streams", cells[3]),
                ("gross_revenue", cells[4]),
                ("subscribers", cells[5]),
            ] {
                if !cell.is_empty() {
                    refused.push(line, column, "must be empty on a per-ISRC row");
                }
            }
            let isrc = match Isrc::parse(cells[6]) {
                Ok(isrc) if (scope.covers)(&isrc) => Some(isrc),
                Ok(isrc) => {
                    refused.push(line, "isrc", format!("{isrc} is not in the grant"));
                    None
                }
                Err(e) => {
                    refused.push(line, "isrc", e.to_string());
                    None
                }
            };
            let (Some(territory), Some(usage), Some(streams), Some(isrc)) =
                (territory, usage, licensed, isrc)
            else {
                continue;
            };
            if refused.count > before {
                continue;
            }
            if !seen_isrcs.insert((territory, usage, isrc.key())) {
                refused.push(
                    line,
                    "isrc",
                    format!("{isrc} is already reported for {territory} {usage}"),
                );
                continue;
            }
            let sum = isrc_sums.entry((territory, usage)).or_default();
            *sum = sum.saturating_add(streams);
            per_isrc.push(IsrcStreams {
                territory,
                usage,
                isrc,
                streams,
            });
        }
    }
    for ((territory, usage), sum) in &isrc_sums {
        match summaries.get(&(*territory, *usage)) {
            Some(summary) if summary.usage.licensed_streams != *sum => refused.push(
                summary.line,
                "licensed_streams",
                format!(
                    "{} but the per-ISRC rows of {territory} {usage} add up to {sum}",
                    summary.usage.licensed_streams
                ),
            ),
            Some(_) => {}
            None => refused.push(
                1,
                "row",
                format!("{territory} {usage} has per-ISRC rows but no summary row"),
            ),
        }
    }
    if refused.count > 0 {
        return Err(refused);
    }
    Ok(UsageReport {
        lines: summaries.into_values().map(|s| s.usage).collect(),
        per_isrc,
    })
}

fn parse_territory(
    refused: &mut ReportRefused,
    line: u64,
    cell: &str,
    scope: &ReportScope<'_>,
) -> Option<Territory> {
    match Territory::parse(cell) {
        Ok(t) if scope.territories.contains(t) => Some(t),
        Ok(t) => {
            refused.push(
                line,
                "territory",
                format!("{t} is outside the grant's territories"),
            );
            None
        }
        Err(e) => {
            refused.push(line, "territory", e.to_string());
            None
        }
    }
}

fn parse_usage(
    refused: &mut ReportRefused,
    line: u64,
    cell: &str,
    scope: &ReportScope<'_>,
) -> Option<Usage> {
    match cell.parse::<Usage>() {
        Ok(u) if scope.usages.contains(&u) => Some(u),
        Ok(u) => {
            refused.push(
                line,
                "usage",
                format!("{u} is not a usage the grant licenses"),
            );
            None
        }
        Err(e) => {
            refused.push(line, "usage", e.to_string());
            None
        }
    }
}

fn parse_count(refused: &mut ReportRefused, line: u64, field: &str, cell: &str) -> Option<u64> {
    if cell.is_empty() {
        refused.push(line, field, "is required");
        return None;
    }
    if cell.starts_with('-') {
        refused.push(line, field, "must not be negative");
        return None;
    }
    match cell.parse::<u64>() {
        Ok(n) if n <= i64::MAX as u64 => Some(n),
        _ => {
            refused.push(line, field, "must be a whole number");
            None
        }
    }
}

fn parse_revenue(
    refused: &mut ReportRefused,
    line: u64,
    cell: &str,
    currency: Currency,
) -> Option<Decimal> {
    if cell.is_empty() {
        refused.push(line, "gross_revenue", "is required");
        return None;
    }
    if cell.starts_with('-') {
        refused.push(line, "gross_revenue", "must not be negative");
        return None;
    }
    match currency.parse_amount(cell) {
        Ok(amount) => Some(amount),
        Err(message) => {
            refused.push(line, "gross_revenue", message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(csv: &str) -> Result<UsageReport, ReportRefused> {
        let territories = Territories::only(
            ["CN", "HK"]
                .iter()
                .map(|t| Territory::parse(t).expect("territory"))
                .collect(),
        )
        .expect("non-empty");
        let usages: BTreeSet<Usage> = [Usage::InteractiveStreaming].into_iter().collect();
        let covered = Isrc::parse("CNA012400001").expect("isrc");
        let covers = move |isrc: &Isrc| *isrc == covered || isrc.as_str() == "CNA012400002";
        read_usage_report(
            csv.as_bytes(),
            &ReportScope {
                currency: Currency::parse("CNY").expect("CNY"),
                territories: &territories,
                usages: &usages,
                covers: &covers,
            },
        )
    }

    const HEADER: &str =
        "territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc\n";

    fn problems(csv: &str) -> Vec<(u64, String)> {
        read(csv)
            .expect_err("refused")
            .problems
            .into_iter()
            .map(|p| (p.line, p.field))
            .collect()
    }

    #[test]
    fn a_good_report_with_per_isrc_rows() {
        let report = read(&format!(
            "{HEADER}CN,interactive_streaming,300,1000,5000.00,40,\n\
             CN,interactive_streaming,100,,,,CNA012400001\n\
             cn,interactive_streaming,200,,,,CN-A01-24-00002\n\
             HK,interactive_streaming,0,10,1.5,0,\n"
        ))
        .expect("taken");
        assert_eq!(report.lines.len(), 2);
        assert_eq!(report.lines[0].territory.as_str(), "CN");
        assert_eq!(report.lines[0].gross_revenue, Decimal::new(500_000, 2));
        assert_eq!(report.lines[1].gross_revenue, Decimal::new(15, 1));
        assert_eq!(report.per_isrc.len(), 2);
        assert_eq!(report.per_isrc[1].streams, 200);
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_taken() {
        let found = problems(&format!(
            "{HEADER}JP,interactive_streaming,1,2,3,4,\n\
             CN,download,1,2,3,4,\n\
             CN,interactive_streaming,-1,2,3,4,\n\
             CN,interactive_streaming,5,2,3.001,x,\n\
             HK,interactive_streaming,1,2,3,4,ZZZ\n\
             HK,interactive_streaming,1,,,,USA012400001\n\
             HK,interactive_streaming,1,2\n"
        ));
        assert_eq!(
            found,
            vec![
                (2, "territory".into()),
                (3, "usage".into()),
                (4, "licensed_streams".into()),
                (5, "gross_revenue".into()),
                (5, "subscribers".into()),
                (5, "licensed_streams".into()),
                (6, "total_streams".into()),
                (6, "gross_revenue".into()),
                (6, "subscribers".into()),
                (6, "isrc".into()),
                (7, "isrc".into()),
                (8, "row".into()),
            ]
        );
    }

    #[test]
    fn per_isrc_rows_must_add_up_and_lines_are_unique() {
        let found = problems(&format!(
            "{HEADER}CN,interactive_streaming,300,1000,5000.00,40,\n\
             CN,interactive_streaming,100,,,,CNA012400001\n\
             CN,interactive_streaming,100,,,,CNA012400001\n\
             CN,interactive_streaming,300,1000,5000.00,40,\n\
             HK,interactive_streaming,7,,,,CNA012400002\n"
        ));
        assert_eq!(
            found,
            vec![
                (4, "isrc".into()),
                (5, "usage".into()),
                (2, "licensed_streams".into()),
                (1, "row".into()),
            ]
        );
        assert_eq!(problems("isrc,title\n"), vec![(1, "header".into())]);
        assert_eq!(problems(""), vec![(1, "header".into())]);
    }

    #[test]
    fn the_list_of_problems_is_bounded() {
        let mut csv = HEADER.to_string();
        for _ in 0..5_000 {
            csv.push_str("XX,nope,-1,-1,-1,-1,\n");
        }
        let refused = read(&csv).expect_err("refused");
        assert_eq!(refused.problems.len(), MAX_PROBLEMS_LISTED);
        assert!(refused.count > 5_000);
    }
}
