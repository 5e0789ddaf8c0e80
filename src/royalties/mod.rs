//! Money after signing: the licensee reports usage per grant and accounting
//! period, and Cadenza computes that period's royalty statement from it.
//!
//! A report is checked whole against the grant (`import::usage_report`: its
//! territories, usages, recordings, currency) and taken or refused whole. A
//! corrected report for a period is a new version; earlier versions and the
//! statements computed from them stay readable, marked superseded. Because
//! recoupment carries from period to period, a report for a period recomputes
//! that period's statement and every later one that has a report, in order, in
//! the same transaction.
//!
//! Once issued, a statement is reviewed by the licensor, confirmed or disputed, and a
//! confirmed one is frozen into an amount owed ([`statements`]). A report that would
//! recompute a confirmed statement is refused (409).
//!
//! The deal's economics are read from its signed terms: their royalty terms,
//! or for a term sheet with the earlier flat fields what those stand for
//! (`TermSheet::economics`).

use std::io::Read;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::db::audit::AuditEvent;
use crate::db::deals::{self, GrantSummary};
use crate::db::royalties::{self as storage, StatementRow, UsageReportRow};
use crate::db::{catalogs, lock_organization, new_id, now, stored_json, write_transaction};
use crate::db::{DbConnection, DbError};
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::royalty::{
    compute, Basis, Carried, Economics, RoyaltyError, StatementLine, StatementStatus, UsageLine,
};
use crate::domain::territory::{Territories, Territory};
use crate::domain::usage::{Usage, Usages};
use crate::domain::ValidationErrors;
use crate::import::usage_report::{
    read_dsr_report, read_usage_report, ReportLayout, ReportRefused, ReportScope,
};
use crate::mail::event::Event;

pub mod statements;

#[derive(Debug, thiserror::Error)]
pub enum RoyaltiesError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// Not allowed in the statement's current status, or it would change a frozen one (409).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// The report as a whole cannot be taken: every problem, by line.
    #[error(transparent)]
    Refused(#[from] ReportRefused),
    #[error(transparent)]
    Compute(#[from] RoyaltyError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for RoyaltiesError {
    fn from(e: diesel::result::Error) -> Self {
        RoyaltiesError::Database(DbError::Query(e))
    }
}

/// A summary line as stored with its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportedLine {
    pub territory: String,
    pub usage: String,
    pub licensed_streams: u64,
    pub total_streams: u64,
    /// Exact decimal, in the grant's currency.
    pub gross_revenue: String,
    pub subscribers: u64,
}

impl From<&UsageLine> for ReportedLine {
    fn from(l: &UsageLine) -> Self {
        Self {
            territory: l.territory.as_str().to_string(),
            usage: l.usage.as_str().to_string(),
            licensed_streams: l.licensed_streams,
            total_streams: l.total_streams,
            gross_revenue: l.gross_revenue.to_string(),
            subscribers: l.subscribers,
        }
    }
}

impl ReportedLine {
    fn usage_line(&self) -> Result<UsageLine, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("stored usage line: {what}"));
        Ok(UsageLine {
            territory: Territory::parse(&self.territory).map_err(|_| corrupt("territory"))?,
            usage: self.usage.parse::<Usage>().map_err(|_| corrupt("usage"))?,
            licensed_streams: self.licensed_streams,
            total_streams: self.total_streams,
            gross_revenue: self
                .gross_revenue
                .parse::<Decimal>()
                .map_err(|_| corrupt("gross revenue"))?,
            subscribers: self.subscribers,
        })
    }
}

/// A statement line as stored: every candidate amount (exact) and the one due (rounded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementLineView {
    pub territory: String,
    pub usage: String,
    pub revenue_share: String,
    pub per_stream_floor: String,
    pub per_subscriber_floor: String,
    /// `revenue_share`, `per_stream_floor`, `per_subscriber_floor`, `sum` or `nothing`.
    pub basis: String,
    /// Rounded once to the currency's minor unit, half away from zero.
    pub amount: String,
}

fn line_view(currency: Currency, l: &StatementLine) -> StatementLineView {
    let basis = match l.basis {
        Basis::RevenueShare => "revenue_share",
        Basis::PerStreamFloor => "per_stream_floor",
        Basis::PerSubscriberFloor => "per_subscriber_floor",
        Basis::Sum => "sum",
        Basis::Nothing => "nothing",
    };
    StatementLineView {
        territory: l.territory.as_str().to_string(),
        usage: l.usage.as_str().to_string(),
        revenue_share: l.revenue_share.normalize().to_string(),
        per_stream_floor: l.per_stream_floor.normalize().to_string(),
        per_subscriber_floor: l.per_subscriber_floor.normalize().to_string(),
        basis: basis.to_string(),
        amount: currency.format_amount(l.amount),
    }
}

/// A grant as its royalties need it: the grant, its signed economics, its term.
pub struct Accounted {
    pub grant: GrantSummary,
    pub economics: Economics,
    pub term: Period,
}

/// The grant if `organization_id` is a party to it, with its economics.
pub fn accounted(
    conn: &mut DbConnection,
    organization_id: &str,
    grant_id: &str,
) -> Result<Accounted, RoyaltiesError> {
    let grant = deals::find_grant(conn, grant_id)?
        .filter(|g| g.licensor_org_id == organization_id || g.licensee_org_id == organization_id)
        .ok_or(RoyaltiesError::NotFound("grant"))?;
    let deal = deals::find_deal(conn, &grant.deal_id)?.ok_or(RoyaltiesError::NotFound("deal"))?;
    let revision = deal
        .agreed_revision
        .ok_or_else(|| DbError::Corrupt(format!("grant {} has no agreed revision", grant.id)))?;
    let revision = deals::find_revision(conn, &deal.id, revision)?
        .ok_or(RoyaltiesError::NotFound("revision"))?;
    let terms = crate::deals::stored_terms(&revision).map_err(|e| match e {
        crate::deals::DealError::Database(db) => db,
        other => DbError::Corrupt(other.to_string()),
    })?;
    let economics = terms.economics();
    let term = Period::new(grant.start_date, grant.end_date)
        .map_err(|e| DbError::Corrupt(format!("grant period: {e}")))?;
    Ok(Accounted {
        grant,
        economics,
        term,
    })
}

/// What an upload stored and computed.
pub struct Uploaded {
    pub report: UsageReportRow,
    /// The statements (re)computed, in period order.
    pub statements: Vec<StatementRow>,
}

/// Which report an upload is: the grant, the accounting period it starts on,
/// and how the file is laid out.
pub struct ReportFor<'a> {
    pub grant_id: &'a str,
    pub period_start: NaiveDate,
    pub layout: ReportLayout,
}

/// Takes the licensee's usage report for the accounting period starting on
/// `period_start`, whole or not at all, and computes the statements it affects.
pub fn upload_report(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    role: Role,
    target: ReportFor<'_>,
    body: impl Read,
) -> Result<Uploaded, RoyaltiesError> {
    let ReportFor {
        grant_id,
        period_start,
        layout,
    } = target;
    if !role.includes(Role::Negotiator) {
        return Err(RoyaltiesError::Forbidden(
            "reporting usage needs the negotiator role or higher".into(),
        ));
    }
    let accounted = accounted(conn, organization_id, grant_id)?;
    let grant = &accounted.grant;
    if grant.licensee_org_id != organization_id {
        return Err(RoyaltiesError::Forbidden(
            "usage is reported by the grant's licensee".into(),
        ));
    }
    let periods = accounted
        .economics
        .accounting_period
        .periods_of(accounted.term);
    let period = periods
        .iter()
        .copied()
        .find(|p| p.start == period_start)
        .ok_or_else(|| {
            ValidationErrors::single(
                "period_start",
                format!(
                    "{period_start} does not start an accounting period of the grant (they start on {})",
                    periods
                        .iter()
                        .map(|p| p.start.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let territories: Territories = stored_json("grants.territories", &grant.territories)?;
    let usages: Usages = stored_json("grants.usages", &grant.usages)?;
    let usages = usages.iter().collect();
    let recordings = catalogs::decode_recordings(
        deals::grant_recordings(conn, &grant.id)?.as_deref(),
        "grant",
        &grant.id,
    )?;
    let covers = |isrc: &crate::domain::isrc::Isrc| recordings.contains(isrc.key());
    let scope = ReportScope {
        currency: accounted.economics.currency,
        territories: &territories,
        usages: &usages,
        covers: &covers,
    };
    let report = match layout {
        ReportLayout::Csv => read_usage_report(body, &scope)?,
        ReportLayout::Dsr => read_dsr_report(body, &scope, period)?,
    };
    let lines: Vec<ReportedLine> = report.lines.iter().map(ReportedLine::from).collect();
    let at = now();
    write_transaction(conn, |conn| {
        // One licensee's reports are taken one at a time (versions never collide).
        lock_organization(conn, &grant.licensee_org_id)?;
        // A confirmed statement is final: a report that would recompute it is refused.
        if let Some(frozen) = storage::frozen_from(conn, &grant.id, period.start)? {
            return Err(frozen_refusal(&frozen, period.start));
        }
        let version =
            storage::current_report(conn, &grant.id, period.start)?.map_or(1, |r| r.version + 1);
        let row = UsageReportRow {
            id: new_id(),
            grant_id: grant.id.clone(),
            period_start: period.start,
            period_end: period.end,
            version,
            lines: serde_json::to_string(&lines)
                .map_err(|e| DbError::Corrupt(format!("usage lines: {e}")))?,
            isrc_rows: report.per_isrc.len() as i64,
            uploaded_by: user_id.to_string(),
            created_at: at,
            superseded_at: None,
        };
        storage::insert_report(conn, &row, at)?;
        let replaced: std::collections::HashSet<NaiveDate> =
            storage::statements_of(conn, &grant.id)?
                .into_iter()
                .filter(|s| s.superseded_at.is_none() && s.period_start >= period.start)
                .map(|s| s.period_start)
                .collect();
        let statements = recompute_from(conn, &accounted, period.start, at)?;
        // On PostgreSQL a confirmation may have committed while this transaction waited
        // for the statement's row: it was left alone above, and the report is refused.
        if let Some(frozen) = storage::frozen_from(conn, &grant.id, period.start)? {
            return Err(frozen_refusal(&frozen, period.start));
        }
        AuditEvent::new("usage_report.uploaded", "grant", Some(&grant.id))
            .by(Some(organization_id), Some(user_id))
            .after(serde_json::json!({
                "report_id": row.id, "period_start": period.start, "version": version,
                "lines": lines.len(), "isrc_rows": row.isrc_rows,
            }))
            .write(conn)?;
        // Each new statement goes to the licensor for review.
        if let Some(deal) = deals::find_deal(conn, &grant.deal_id)? {
            let actor = statements::actor(conn, user_id, organization_id)?;
            for statement in &statements {
                let event = Event::StatementIssued {
                    deal: statements::deal_ref(&deal),
                    statement: statements::statement_ref(statement, statement.payable_minor)?,
                    actor: actor.clone(),
                    corrected: replaced.contains(&statement.period_start),
                };
                statements::tell_parties(conn, &deal, &event, true, false, Some(user_id))?;
            }
        }
        Ok(Uploaded {
            report: row,
            statements,
        })
    })
}

/// A report for `period_start` would recompute this confirmed statement: refused (409).
fn frozen_refusal(frozen: &StatementRow, period_start: NaiveDate) -> RoyaltiesError {
    RoyaltiesError::Conflict(format!(
        "the statement for {} to {} is confirmed ({}) and final: a report for {period_start} would recompute it",
        frozen.period_start, frozen.period_end, frozen.status
    ))
}

/// Supersedes the statements from `from` on and computes them again from the
/// current reports, carrying recoupment from the statement before.
fn recompute_from(
    conn: &mut DbConnection,
    accounted: &Accounted,
    from: NaiveDate,
    at: chrono::NaiveDateTime,
) -> Result<Vec<StatementRow>, RoyaltiesError> {
    let grant = &accounted.grant;
    let economics = &accounted.economics;
    let currency = economics.currency;
    storage::supersede_statements_from(conn, &grant.id, from, at)?;
    let mut carried = match storage::previous_statement(conn, &grant.id, from)? {
        Some(s) => Carried {
            recouped_to_date: currency.from_minor_units(s.recouped_to_date_minor),
            owed_to_date: currency.from_minor_units(s.owed_to_date_minor),
        },
        None => Carried::default(),
    };
    let minor = |amount: Decimal| {
        currency
            .to_minor_units(amount)
            .map_err(|_| RoyaltiesError::Compute(RoyaltyError::OutOfRange))
    };
    let mut written = Vec::new();
    for report in storage::current_reports_of(conn, &grant.id)?
        .into_iter()
        .filter(|r| r.period_start >= from)
    {
        let lines: Vec<ReportedLine> = stored_json("usage_reports.lines", &report.lines)?;
        let usage = lines
            .iter()
            .map(ReportedLine::usage_line)
            .collect::<Result<Vec<_>, _>>()?;
        let last = report.period_end >= accounted.term.end;
        let statement = compute(economics, &usage, carried, last)?;
        let period = Period::new(report.period_start, report.period_end)
            .map_err(|e| DbError::Corrupt(format!("report period: {e}")))?;
        let views: Vec<StatementLineView> = statement
            .lines
            .iter()
            .map(|l| line_view(currency, l))
            .collect();
        let row = StatementRow {
            id: new_id(),
            grant_id: grant.id.clone(),
            report_id: report.id.clone(),
            period_start: report.period_start,
            period_end: report.period_end,
            currency: currency.code().to_string(),
            lines: serde_json::to_string(&views)
                .map_err(|e| DbError::Corrupt(format!("statement lines: {e}")))?,
            earned_minor: minor(statement.earned)?,
            guarantee_top_up_minor: minor(statement.guarantee_top_up)?,
            recouped_minor: minor(statement.recouped)?,
            unrecouped_minor: minor(statement.unrecouped)?,
            payable_minor: minor(statement.payable)?,
            recouped_to_date_minor: minor(statement.carried.recouped_to_date)?,
            owed_to_date_minor: minor(statement.carried.owed_to_date)?,
            due_date: economics.statement_due(period),
            created_at: at,
            superseded_at: None,
            status: StatementStatus::Issued.as_str().to_string(),
            disputed_reason: None,
            disputed_by: None,
            disputed_at: None,
            confirmed_by: None,
            confirmed_at: None,
            paid_minor: 0,
            overdue_notified: false,
        };
        storage::insert_statement(conn, &row)?;
        carried = statement.carried;
        written.push(row);
    }
    Ok(written)
}
