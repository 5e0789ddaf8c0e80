//! Queries for usage reports (versioned per grant and period) and the royalty
//! statements computed from them.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{royalty_statements, usage_reports};
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_reports)]
pub struct UsageReportRow {
    pub id: String,
    pub grant_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub version: i32,
    /// The summary lines, JSON (`royalties::StoredLine`).
    pub lines: String,
    pub isrc_rows: i64,
    pub uploaded_by: String,
    pub created_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = royalty_statements)]
pub struct StatementRow {
    pub id: String,
    pub grant_id: String,
    pub report_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub currency: String,
    /// The statement lines, JSON.
    pub lines: String,
    pub earned_minor: i64,
    pub guarantee_top_up_minor: i64,
    pub recouped_minor: i64,
    pub unrecouped_minor: i64,
    pub payable_minor: i64,
    pub recouped_to_date_minor: i64,
    pub owed_to_date_minor: i64,
    pub due_date: NaiveDate,
    pub created_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
}

/// The current report of a grant's period, if any.
pub fn current_report(
    conn: &mut DbConnection,
    grant_id: &str,
    period_start: NaiveDate,
) -> Result<Option<UsageReportRow>, DbError> {
    Ok(usage_reports::table
        .filter(usage_reports::grant_id.eq(grant_id))
        .filter(usage_reports::period_start.eq(period_start))
        .filter(usage_reports::superseded_at.is_null())
        .select(UsageReportRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a report version, superseding the period's current one.
pub fn insert_report(
    conn: &mut DbConnection,
    row: &UsageReportRow,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        usage_reports::table
            .filter(usage_reports::grant_id.eq(&row.grant_id))
            .filter(usage_reports::period_start.eq(row.period_start))
            .filter(usage_reports::superseded_at.is_null()),
    )
    .set(usage_reports::superseded_at.eq(Some(at)))
    .execute(conn)?;
    diesel::insert_into(usage_reports::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Every report version of a grant, by period then version.
pub fn reports_of(conn: &mut DbConnection, grant_id: &str) -> Result<Vec<UsageReportRow>, DbError> {
    Ok(usage_reports::table
        .filter(usage_reports::grant_id.eq(grant_id))
        .order((
            usage_reports::period_start.asc(),
            usage_reports::version.asc(),
        ))
        .select(UsageReportRow::as_select())
        .load(conn)?)
}

/// The current reports of a grant, in period order.
pub fn current_reports_of(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Vec<UsageReportRow>, DbError> {
    Ok(usage_reports::table
        .filter(usage_reports::grant_id.eq(grant_id))
        .filter(usage_reports::superseded_at.is_null())
        .order(usage_reports::period_start.asc())
        .select(UsageReportRow::as_select())
        .load(conn)?)
}

/// Supersedes every current statement of a grant from `period_start` on (they are
/// recomputed in order after a report changes).
pub fn supersede_statements_from(
    conn: &mut DbConnection,
    grant_id: &str,
    period_start: NaiveDate,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        royalty_statements::table
            .filter(royalty_statements::grant_id.eq(grant_id))
            .filter(royalty_statements::period_start.ge(period_start))
            .filter(royalty_statements::superseded_at.is_null()),
    )
    .set(royalty_statements::superseded_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

pub fn insert_statement(conn: &mut DbConnection, row: &StatementRow) -> Result<(), DbError> {
    diesel::insert_into(royalty_statements::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Every statement of a grant (current and superseded), by period, newest first within one.
pub fn statements_of(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Vec<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .filter(royalty_statements::grant_id.eq(grant_id))
        .order((
            royalty_statements::period_start.asc(),
            royalty_statements::created_at.desc(),
            royalty_statements::id.desc(),
        ))
        .select(StatementRow::as_select())
        .load(conn)?)
}

/// The current statement of the period just before `period_start`, if any.
pub fn previous_statement(
    conn: &mut DbConnection,
    grant_id: &str,
    period_start: NaiveDate,
) -> Result<Option<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .filter(royalty_statements::grant_id.eq(grant_id))
        .filter(royalty_statements::period_start.lt(period_start))
        .filter(royalty_statements::superseded_at.is_null())
        .order(royalty_statements::period_start.desc())
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}
