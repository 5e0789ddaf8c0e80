//! Reading a licensee's usage report for one grant and accounting period, streamed,
//! every bad line reported by line and field: CSV (below) or the DDEX DSR flat-file
//! subset (`dsr`), both through one [`ReportBuilder`].
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

mod dsr;
pub use dsr::read_dsr_report;

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

/// How a report is laid out (chosen by the upload's content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportLayout {
    /// `text/csv`, the columns of [`COLUMNS`].
    Csv,
    /// `text/tab-separated-values`: the DDEX DSR flat-file subset of [`dsr`].
    Dsr,
}

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

/// The cells of a summary line, as text, whatever layout they came in.
pub(crate) struct SummaryCells<'c> {
    pub territory: &'c str,
    pub usage: &'c str,
    pub licensed_streams: &'c str,
    pub total_streams: &'c str,
    pub gross_revenue: &'c str,
    pub subscribers: &'c str,
}

/// The cells of a per-ISRC line.
pub(crate) struct IsrcCells<'c> {
    pub territory: &'c str,
    pub usage: &'c str,
    pub streams: &'c str,
    pub isrc: &'c str,
}

/// Builds a report line by line, whatever the layout (CSV or DSR): checks each
/// line against the grant, and the whole (per-ISRC rows add up, one summary per
/// territory and usage) at the end.
pub(crate) struct ReportBuilder<'s> {
    scope: &'s ReportScope<'s>,
    refused: ReportRefused,
    summaries: BTreeMap<(Territory, Usage), Summary>,
    per_isrc: Vec<IsrcStreams>,
    isrc_sums: BTreeMap<(Territory, Usage), u64>,
    // By the ISRC's integer key: a report may carry millions of per-ISRC rows.
    seen_isrcs: std::collections::HashSet<(Territory, Usage, i64)>,
}

impl<'s> ReportBuilder<'s> {
    pub(crate) fn new(scope: &'s ReportScope<'s>) -> Self {
        Self {
            scope,
            refused: ReportRefused {
                problems: Vec::new(),
                count: 0,
            },
            summaries: BTreeMap::new(),
            per_isrc: Vec::new(),
            isrc_sums: BTreeMap::new(),
            seen_isrcs: std::collections::HashSet::new(),
        }
    }

    pub(crate) fn problem(&mut self, line: u64, field: &str, message: impl Into<String>) {
        self.refused.push(line, field, message);
    }

    pub(crate) fn has_problems(&self) -> bool {
        self.refused.count > 0
    }

    /// The usage a cell names, as the layout spells it (`parse`), checked
    /// against the grant.
    fn usage(&mut self, line: u64, cell: &str) -> Option<Usage> {
        parse_usage(&mut self.refused, line, cell, self.scope)
    }

    pub(crate) fn summary(&mut self, line: u64, cells: SummaryCells<'_>) {
        let refused = &mut self.refused;
        let before = refused.count;
        let territory = parse_territory(refused, line, cells.territory, self.scope);
        let usage = self.usage(line, cells.usage);
        let refused = &mut self.refused;
        let licensed = parse_count(refused, line, "licensed_streams", cells.licensed_streams);
        let total = parse_count(refused, line, "total_streams", cells.total_streams);
        let gross = parse_revenue(refused, line, cells.gross_revenue, self.scope.currency);
        let subscribers = parse_count(refused, line, "subscribers", cells.subscribers);
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
            return;
        };
        if refused.count > before {
            return;
        }
        if let Some(first) = self.summaries.get(&(territory, usage)) {
            refused.push(
                line,
                "usage",
                format!(
                    "{territory} {usage} is already reported on line {}",
                    first.line
                ),
            );
            return;
        }
        self.summaries.insert(
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
    }

    pub(crate) fn isrc_row(&mut self, line: u64, cells: IsrcCells<'_>) {
        let before = self.refused.count;
        let territory = parse_territory(&mut self.refused, line, cells.territory, self.scope);
        let usage = self.usage(line, cells.usage);
        let refused = &mut self.refused;
        let streams = parse_count(refused, line, "licensed_streams", cells.streams);
        let isrc = match Isrc::parse(cells.isrc) {
            Ok(isrc) if (self.scope.covers)(&isrc) => Some(isrc),
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
            (territory, usage, streams, isrc)
        else {
            return;
        };
        if refused.count > before {
            return;
        }
        if !self.seen_isrcs.insert((territory, usage, isrc.key())) {
            refused.push(
                line,
                "isrc",
                format!("{isrc} is already reported for {territory} {usage}"),
            );
            return;
        }
        let sum = self.isrc_sums.entry((territory, usage)).or_default();
        *sum = sum.saturating_add(streams);
        self.per_isrc.push(IsrcStreams {
            territory,
            usage,
            isrc,
            streams,
        });
    }

    /// The report, or every problem found (the whole-report checks reported
    /// on the summary's line, or line 1 when there is none).
    pub(crate) fn finish(mut self) -> Result<UsageReport, ReportRefused> {
        for ((territory, usage), sum) in &self.isrc_sums {
            match self.summaries.get(&(*territory, *usage)) {
                Some(summary) if summary.usage.licensed_streams != *sum => self.refused.push(
                    summary.line,
                    "licensed_streams",
                    format!(
                        "{} but the per-ISRC rows of {territory} {usage} add up to {sum}",
                        summary.usage.licensed_streams
                    ),
                ),
                Some(_) => {}
                None => self.refused.push(
                    1,
                    "row",
                    format!("{territory} {usage} has per-ISRC rows but no summary row"),
                ),
            }
        }
        if self.refused.count > 0 {
            return Err(self.refused);
        }
        Ok(UsageReport {
            lines: self.summaries.into_values().map(|s| s.usage).collect(),
            per_isrc: self.per_isrc,
        })
    }
}

/// Reads a whole CSV report; `Err` lists why it cannot be taken.
pub fn read_usage_report(
    input: impl Read,
    scope: &ReportScope<'_>,
) -> Result<UsageReport, ReportRefused> {
    let mut report = ReportBuilder::new(scope);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = reader.byte_records();
    match records.next() {
        Some(Ok(header)) if header.iter().eq(COLUMNS.iter().map(|c| c.as_bytes())) => {}
        Some(Err(e)) => report.problem(1, "header", format!("unreadable CSV: {e}")),
        _ => report.problem(
            1,
            "header",
            format!("the first line must be `{}`", COLUMNS.join(",")),
        ),
    }
    if report.has_problems() {
        return report.finish();
    }
    for (index, record) in records.enumerate() {
        let line = index as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.problem(line, "row", format!("unreadable CSV: {e}"));
                continue;
            }
        };
        if record.len() != COLUMNS.len() {
            report.problem(
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
                    report.problem(line, column, "is not valid UTF-8");
                    cells.push("");
                }
            }
        }
        if cells[6].is_empty() {
            report.summary(
                line,
                SummaryCells {
                    territory: cells[0],
                    usage: cells[1],
                    licensed_streams: cells[2],
                    total_streams: cells[3],
                    gross_revenue: cells[4],
                    subscribers: cells[5],
                },
            );
        } else {
            for (column, cell) in [
                ("total_streams", cells[3]),
                ("gross_revenue", cells[4]),
                ("subscribers", cells[5]),
            ] {
                if !cell.is_empty() {
                    report.problem(line, column, "must be empty on a per-ISRC row");
                }
            }
            report.isrc_row(
                line,
                IsrcCells {
                    territory: cells[0],
                    usage: cells[1],
                    streams: cells[2],
                    isrc: cells[6],
                },
            );
        }
    }
    report.finish()
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
