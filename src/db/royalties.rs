//! Queries for usage reports (versioned per grant and period) and the royalty
//! statements computed from them.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{royalty_statements, statement_payments, usage_reports};
use super::{DbConnection, DbError};
use crate::domain::royalty::StatementStatus;

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
    /// A `StatementStatus` name.
    pub status: String,
    pub disputed_reason: Option<String>,
    pub disputed_by: Option<String>,
    pub disputed_at: Option<NaiveDateTime>,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<NaiveDateTime>,
    /// Money recorded against a confirmed statement's `payable_minor`.
    pub paid_minor: i64,
    pub overdue_notified: bool,
}

/// What a lifecycle step changes on a statement.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = royalty_statements)]
pub struct StatementChange<'a> {
    pub status: &'a str,
    pub paid_minor: i64,
    pub disputed_reason: Option<&'a str>,
    pub disputed_by: Option<&'a str>,
    pub disputed_at: Option<NaiveDateTime>,
    pub confirmed_by: Option<&'a str>,
    pub confirmed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = statement_payments)]
pub struct StatementPaymentRow {
    pub id: String,
    pub statement_id: String,
    pub amount_minor: i64,
    pub paid_on: NaiveDate,
    pub reference: String,
    pub recorded_by: String,
    pub created_at: NaiveDateTime,
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

/// Supersedes every current statement of a grant from `period_start` on that is still
/// under review (they are recomputed in order after a report changes). A confirmed
/// statement is never touched: the caller refuses the report (`frozen_from`), and checks
/// again afterwards for one confirmed concurrently.
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
            .filter(royalty_statements::superseded_at.is_null())
            .filter(
                royalty_statements::status
                    .eq_any(StatementStatus::REVIEWABLE.map(StatementStatus::as_str)),
            ),
    )
    .set((
        royalty_statements::superseded_at.eq(Some(at)),
        royalty_statements::status.eq(StatementStatus::Superseded.as_str()),
    ))
    .execute(conn)?;
    Ok(())
}

/// The first current statement of a grant from `period_start` on that is confirmed
/// (frozen): a report that would recompute it is refused.
pub fn frozen_from(
    conn: &mut DbConnection,
    grant_id: &str,
    period_start: NaiveDate,
) -> Result<Option<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .filter(royalty_statements::grant_id.eq(grant_id))
        .filter(royalty_statements::period_start.ge(period_start))
        .filter(royalty_statements::superseded_at.is_null())
        .filter(
            royalty_statements::status.eq_any(StatementStatus::FROZEN.map(StatementStatus::as_str)),
        )
        .order(royalty_statements::period_start.asc())
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

/// The first current statement of a grant before `period_start` still under review
/// (issued or disputed): statements are confirmed in period order.
pub fn unconfirmed_before(
    conn: &mut DbConnection,
    grant_id: &str,
    period_start: NaiveDate,
) -> Result<Option<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .filter(royalty_statements::grant_id.eq(grant_id))
        .filter(royalty_statements::period_start.lt(period_start))
        .filter(royalty_statements::superseded_at.is_null())
        .filter(
            royalty_statements::status
                .eq_any(StatementStatus::REVIEWABLE.map(StatementStatus::as_str)),
        )
        .order(royalty_statements::period_start.asc())
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_statement(conn: &mut DbConnection, id: &str) -> Result<Option<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .find(id)
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

/// Takes the statement's row lock (PostgreSQL) until the transaction ends, so
/// concurrent reviews and payments see each other.
pub fn lock_statement(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::update(royalty_statements::table.find(id))
        .set(royalty_statements::paid_minor.eq(royalty_statements::paid_minor))
        .execute(conn)?;
    Ok(())
}

pub fn update_statement(
    conn: &mut DbConnection,
    id: &str,
    change: &StatementChange<'_>,
) -> Result<(), DbError> {
    diesel::update(royalty_statements::table.find(id))
        .set(change)
        .execute(conn)?;
    Ok(())
}

/// Claims the overdue notice: false when another sweeper already sent it.
pub fn mark_overdue_notified(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    let changed = diesel::update(
        royalty_statements::table
            .find(id)
            .filter(royalty_statements::overdue_notified.eq(false)),
    )
    .set(royalty_statements::overdue_notified.eq(true))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Current confirmed statements with money owed, due on or before `horizon`, whose
/// status may need to move (confirmed → due → overdue).
pub fn statements_to_review(
    conn: &mut DbConnection,
    horizon: NaiveDate,
    limit: i64,
) -> Result<Vec<StatementRow>, DbError> {
    Ok(royalty_statements::table
        .filter(
            royalty_statements::status.eq_any(StatementStatus::OWED.map(StatementStatus::as_str)),
        )
        .filter(royalty_statements::superseded_at.is_null())
        .filter(royalty_statements::due_date.le(horizon))
        .order(royalty_statements::due_date.asc())
        .limit(limit)
        .select(StatementRow::as_select())
        .load(conn)?)
}

pub fn insert_statement_payment(
    conn: &mut DbConnection,
    payment: &StatementPaymentRow,
) -> Result<(), DbError> {
    diesel::insert_into(statement_payments::table)
        .values(payment)
        .execute(conn)?;
    Ok(())
}

/// The payments recorded against these statements, oldest first.
pub fn payments_for_statements(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<StatementPaymentRow>, DbError> {
    Ok(statement_payments::table
        .filter(statement_payments::statement_id.eq_any(ids))
        .order(statement_payments::id.asc())
        .select(StatementPaymentRow::as_select())
        .load(conn)?)
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
