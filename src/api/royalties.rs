//! Usage reports and royalty statements of a grant (`crate::royalties`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::catalogs::streamed_body;
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::royalties::{self as storage, StatementPaymentRow, StatementRow, UsageReportRow};
use crate::db::{stored, stored_json, DbError};
use crate::domain::money::Currency;
use crate::domain::royalty::StatementStatus;
use crate::domain::ValidationErrors;
use crate::import::usage_report::ReportLayout;
use crate::royalties::statements::{self as lifecycle, Balances, NewPayment};
use crate::royalties::{self, ReportedLine, RoyaltiesError, StatementLineView};

impl From<RoyaltiesError> for ApiError {
    fn from(e: RoyaltiesError) -> Self {
        match e {
            RoyaltiesError::NotFound(what) => ApiError::NotFound(what),
            RoyaltiesError::Forbidden(why) => ApiError::Forbidden(why),
            RoyaltiesError::Conflict(detail) => ApiError::Conflict {
                detail,
                extensions: None,
            },
            RoyaltiesError::Validation(errors) => ApiError::Validation(errors),
            // Every bad line, as `lines[N].field` (N is the 1-based line; the header is 1).
            RoyaltiesError::Refused(refused) => {
                let mut errors = ValidationErrors::new();
                for p in refused.problems {
                    errors.push(format!("lines[{}].{}", p.line, p.field), p.message);
                }
                ApiError::Validation(errors)
            }
            RoyaltiesError::Compute(e) => {
                ApiError::Validation(ValidationErrors::single("body", e.to_string()))
            }
            RoyaltiesError::Database(db) => ApiError::Database(db),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReportView {
    pub id: String,
    pub grant_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// 1 for the first report of the period; a correction is the next version.
    pub version: i32,
    /// Per territory and usage, as reported.
    pub lines: Vec<ReportedLine>,
    /// Per-ISRC rows the report carried (checked against the grant, not stored).
    pub isrc_rows: i64,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
    /// When a correction replaced it; null for the current version.
    pub superseded_at: Option<DateTime<Utc>>,
}

impl TryFrom<UsageReportRow> for UsageReportView {
    type Error = DbError;
    fn try_from(r: UsageReportRow) -> Result<Self, DbError> {
        Ok(Self {
            lines: stored_json("usage_reports.lines", &r.lines)?,
            id: r.id,
            grant_id: r.grant_id,
            period_start: r.period_start,
            period_end: r.period_end,
            version: r.version,
            isrc_rows: r.isrc_rows,
            uploaded_by: r.uploaded_by,
            created_at: r.created_at.and_utc(),
            superseded_at: r.superseded_at.map(|t| t.and_utc()),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    pub id: String,
    pub grant_id: String,
    /// The report version it was computed from.
    pub report_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub currency: String,
    pub lines: Vec<StatementLineView>,
    /// The sum of the lines' amounts (exactly).
    pub earned: String,
    /// A minimum guarantee's shortfall owed now.
    pub guarantee_top_up: String,
    /// Advance recouped from this period.
    pub recouped: String,
    /// Advance still to recoup after it.
    pub unrecouped: String,
    /// What the licensee pays for the period.
    pub payable: String,
    pub recouped_to_date: String,
    pub due_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    /// Set when a corrected report (this period's or an earlier one's) replaced it.
    pub superseded_at: Option<DateTime<Utc>>,
    /// `issued`, `disputed`, `superseded`, `confirmed`, `due`, `partially_paid`, `paid`
    /// or `overdue` (docs/royalties.md § The statement lifecycle).
    pub status: StatementStatus,
    /// The licensor's reason, when it disputed this statement.
    pub disputed_reason: Option<String>,
    pub disputed_by: Option<String>,
    pub disputed_at: Option<DateTime<Utc>>,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Recorded against `payable` once confirmed.
    pub paid: String,
    /// What is still owed on it: `payable − paid` once confirmed, 0 before.
    pub balance: String,
    pub payments: Vec<StatementPaymentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementPaymentView {
    pub id: String,
    pub amount: String,
    pub paid_on: NaiveDate,
    pub reference: String,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<StatementRow> for StatementView {
    type Error = DbError;
    fn try_from(s: StatementRow) -> Result<Self, DbError> {
        statement_view(s, &[])
    }
}

/// A statement as shown, with the payments recorded against it (`payments` may hold
/// other statements' too: only its own are shown).
pub fn statement_view(
    s: StatementRow,
    payments: &[StatementPaymentRow],
) -> Result<StatementView, DbError> {
    let currency = Currency::parse(&s.currency)
        .map_err(|e| DbError::Corrupt(format!("statement currency: {e}")))?;
    let money = |minor: i64| currency.format_amount(currency.from_minor_units(minor));
    let status: StatementStatus = stored("royalty_statements.status", &s.status)?;
    let balance = if status.is_frozen() {
        s.payable_minor - s.paid_minor
    } else {
        0
    };
    Ok(StatementView {
        status,
        paid: money(s.paid_minor),
        balance: money(balance),
        payments: payments
            .iter()
            .filter(|p| p.statement_id == s.id)
            .map(|p| StatementPaymentView {
                id: p.id.clone(),
                amount: money(p.amount_minor),
                paid_on: p.paid_on,
                reference: p.reference.clone(),
                recorded_by: p.recorded_by.clone(),
                created_at: p.created_at.and_utc(),
            })
            .collect(),
        disputed_reason: s.disputed_reason,
        disputed_by: s.disputed_by,
        disputed_at: s.disputed_at.map(|t| t.and_utc()),
        confirmed_by: s.confirmed_by,
        confirmed_at: s.confirmed_at.map(|t| t.and_utc()),
        lines: stored_json("royalty_statements.lines", &s.lines)?,
        earned: money(s.earned_minor),
        guarantee_top_up: money(s.guarantee_top_up_minor),
        recouped: money(s.recouped_minor),
        unrecouped: money(s.unrecouped_minor),
        payable: money(s.payable_minor),
        recouped_to_date: money(s.recouped_to_date_minor),
        id: s.id,
        grant_id: s.grant_id,
        report_id: s.report_id,
        period_start: s.period_start,
        period_end: s.period_end,
        currency: s.currency,
        due_date: s.due_date,
        created_at: s.created_at.and_utc(),
        superseded_at: s.superseded_at.map(|t| t.and_utc()),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedView {
    pub report: UsageReportView,
    /// The statements computed from it and, after a correction, every later one.
    pub statements: Vec<StatementView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// First day of the accounting period reported (a quarter of the grant's term).
    pub period_start: NaiveDate,
}

/// Report a period's usage of a grant (its licensee): `text/csv` with header
/// `territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc`,
/// or `text/tab-separated-values`, the DDEX DSR flat-file subset (HEAD, SY03,
/// SR01, FOOT; see docs/royalties.md). Taken whole or refused whole with every
/// bad line; a second report for a period is a correction (a new version).
#[utoipa::path(tag = "royalties", security(("bearer" = [])), params(PeriodQuery),
    request_body(description = "The usage report", content((String = "text/csv"), (String = "text/tab-separated-values"))),
    responses(
        (status = 201, body = UploadedView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every bad line, as lines[N].field; nothing stored", body = Problem, content_type = "application/problem+json"),
))]
#[post("/grants/{id}/usage-reports")]
pub async fn upload_usage_report(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PeriodQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start().to_ascii_lowercase())
        .unwrap_or_default();
    let layout = if content_type.starts_with("text/csv") {
        ReportLayout::Csv
    } else if content_type.starts_with("text/tab-separated-values") {
        ReportLayout::Dsr
    } else {
        return Err(ApiError::UnsupportedMediaType {
            expected: "text/csv or text/tab-separated-values (DDEX DSR flat file)",
        });
    };
    let (body, feeding) = streamed_body(payload);
    let org = caller.organization_id().to_string();
    let user = caller.user_id().to_string();
    let role = caller.role;
    let grant_id = path.into_inner();
    let period_start = query.period_start;
    let uploading = state.db.run(move |conn| {
        let uploaded = royalties::upload_report(
            conn,
            &org,
            &user,
            role,
            royalties::ReportFor {
                grant_id: &grant_id,
                period_start,
                layout,
            },
            body,
        )?;
        Ok::<_, ApiError>(UploadedView {
            report: UsageReportView::try_from(uploaded.report)?,
            statements: uploaded
                .statements
                .into_iter()
                .map(StatementView::try_from)
                .collect::<Result<_, _>>()?,
        })
    });
    let (view, ()) = futures_util::join!(uploading, feeding);
    Ok(HttpResponse::Created().json(view?))
}

/// Every usage report of a grant, every version, by period (either party).
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, body = Vec<UsageReportView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/usage-reports")]
pub async fn list_usage_reports(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let views = state
        .db
        .run(move |conn| {
            let accounted = royalties::accounted(conn, &org, &id)?;
            storage::reports_of(conn, &accounted.grant.id)?
                .into_iter()
                .map(|r| UsageReportView::try_from(r).map_err(ApiError::from))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// Every royalty statement of a grant, current and superseded, by period (either party).
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, body = Vec<StatementView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/statements")]
pub async fn list_statements(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let views = state
        .db
        .run(move |conn| {
            let accounted = royalties::accounted(conn, &org, &id)?;
            let rows = storage::statements_of(conn, &accounted.grant.id)?;
            Ok::<_, ApiError>(with_payments(conn, rows)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// Statements with their payments, loaded in bulk.
fn with_payments(
    conn: &mut crate::db::DbConnection,
    rows: Vec<StatementRow>,
) -> Result<Vec<StatementView>, DbError> {
    let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
    let payments = storage::payments_for_statements(conn, &ids)?;
    rows.into_iter()
        .map(|s| statement_view(s, &payments))
        .collect()
}

fn one_with_payments(
    conn: &mut crate::db::DbConnection,
    row: StatementRow,
) -> Result<StatementView, DbError> {
    let payments = storage::payments_for_statements(conn, std::slice::from_ref(&row.id))?;
    statement_view(row, &payments)
}

/// One royalty statement, with its payments (either party).
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, body = StatementView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/statements/{id}")]
pub async fn get_statement(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let (row, _) = lifecycle::party_statement(conn, &org, &id)?;
            Ok::<_, ApiError>(one_with_payments(conn, row)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One royalty statement as CSV (either party): a `line` row per territory and usage
/// with every candidate amount, then one row per total (`earned`, `guarantee_top_up`,
/// `recouped`, `unrecouped`, `payable`, `paid`, `balance`) in the `amount` column.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, description = "The statement as CSV", content_type = "text/csv", body = String),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/statements/{id}.csv")]
pub async fn statement_csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let (row, _) = lifecycle::party_statement(conn, &org, &id)?;
            Ok::<_, ApiError>(StatementView::try_from(row)?)
        })
        .await?;
    let csv = statement_csv_text(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"statement-{}-{}.csv\"",
                view.period_start, view.id
            ),
        ))
        .body(csv))
}

/// The CSV of a statement. Every value is a code, a date or a number the code wrote,
/// so no cell can start a spreadsheet formula.
pub fn statement_csv_text(view: &StatementView) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "row",
        "period_start",
        "period_end",
        "currency",
        "territory",
        "usage",
        "revenue_share",
        "per_stream_floor",
        "per_subscriber_floor",
        "basis",
        "amount",
    ])?;
    let start = view.period_start.to_string();
    let end = view.period_end.to_string();
    for l in &view.lines {
        out.write_record([
            "line",
            &start,
            &end,
            &view.currency,
            &l.territory,
            &l.usage,
            &l.revenue_share,
            &l.per_stream_floor,
            &l.per_subscriber_floor,
            &l.basis,
            &l.amount,
        ])?;
    }
    for (name, amount) in [
        ("earned", &view.earned),
        ("guarantee_top_up", &view.guarantee_top_up),
        ("recouped", &view.recouped),
        ("unrecouped", &view.unrecouped),
        ("payable", &view.payable),
        ("paid", &view.paid),
        ("balance", &view.balance),
    ] {
        out.write_record([
            name,
            &start,
            &end,
            &view.currency,
            "",
            "",
            "",
            "",
            "",
            "",
            amount,
        ])?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DealStatementsQuery {
    /// Only the statements of the accounting period starting that day.
    pub period_start: Option<NaiveDate>,
}

/// Every royalty statement of an executed deal (its grant's), current and superseded,
/// by period, optionally of one period (either party). Not paginated: one deal has a
/// few statements per accounting period.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), params(DealStatementsQuery), responses(
    (status = 200, body = Vec<StatementView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/statements")]
pub async fn deal_statements(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<DealStatementsQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let period = query.period_start;
    let views = state
        .db
        .run(move |conn| deal_statement_views(conn, &org, &id, period))
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// The statements of deal `id` as organization `org` may see them (404 for a deal it is
/// not a party to); the web app's statements page reads them here too.
pub(crate) fn deal_statement_views(
    conn: &mut crate::db::DbConnection,
    org: &str,
    id: &str,
    period: Option<NaiveDate>,
) -> Result<Vec<StatementView>, ApiError> {
    crate::db::deals::find_deal_for_org(conn, org, id)?.ok_or(ApiError::NotFound("deal"))?;
    let Some(grant) = crate::db::deals::find_grant_for_deal(conn, id)? else {
        return Ok(Vec::new());
    };
    let rows = storage::statements_of(conn, &grant.id)?
        .into_iter()
        .filter(|s| period.is_none_or(|p| s.period_start == p))
        .collect();
    Ok(with_payments(conn, rows)?)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// Why the figures are wrong (at most 2,000 characters); the licensee answers with
    /// a corrected report.
    pub reason: String,
}

/// Dispute an issued statement (the grant's licensor, negotiator or above), with a
/// reason; the licensee answers with a corrected usage report for the period.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), request_body = DisputeRequest, responses(
    (status = 200, body = StatementView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Not issued (already disputed, confirmed or superseded)", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/statements/{id}/dispute")]
pub async fn dispute_statement(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<DisputeRequest>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let user = caller.user_id().to_string();
    let role = caller.role;
    let id = path.into_inner();
    let reason = body.into_inner().reason;
    let view = state
        .db
        .run(move |conn| {
            let row = lifecycle::dispute(conn, &org, &user, role, &id, &reason)?;
            Ok::<_, ApiError>(one_with_payments(conn, row)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Confirm a statement (the grant's licensor, signer or above): it is frozen and
/// becomes an amount owed by its due date. Statements are confirmed in period order.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, body = StatementView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Already confirmed or superseded, or an earlier period's statement is not confirmed yet", body = Problem, content_type = "application/problem+json"),
))]
#[post("/statements/{id}/confirm")]
pub async fn confirm_statement(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let user = caller.user_id().to_string();
    let role = caller.role;
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let row = lifecycle::confirm(conn, &org, &user, role, &id)?;
            Ok::<_, ApiError>(one_with_payments(conn, row)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementPaymentRequest {
    /// Decimal string in the statement's currency; at most the balance.
    pub amount: String,
    pub paid_on: NaiveDate,
    /// The bank or remittance reference.
    pub reference: String,
}

/// Record money received against a confirmed statement (the grant's licensor,
/// negotiator or above, as for installments). Overpayment is refused. Send an
/// `Idempotency-Key` so a retried request can never record the same payment twice.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), request_body = StatementPaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$")),
    responses(
    (status = 201, body = StatementView, headers(
        ("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"),
    )),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Not confirmed, or already paid, or a request with the same Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/statements/{id}/payments")]
pub async fn record_statement_payment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<StatementPaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let org = caller.organization_id().to_string();
    let user = caller.user_id().to_string();
    let role = caller.role;
    let id = path.into_inner();
    // The path (the statement) is part of the fingerprint already.
    idempotency::once_for(&state, &req, caller.user_id(), &body, || async {
        let payment = NewPayment {
            amount: body.amount.clone(),
            paid_on: body.paid_on,
            reference: body.reference.clone(),
        };
        let (org, user, id) = (org.clone(), user.clone(), id.clone());
        let view = state
            .db
            .run(move |conn| {
                let row = lifecycle::record_payment(conn, &org, &user, role, &id, payment)?;
                Ok::<_, ApiError>(one_with_payments(conn, row)?)
            })
            .await?;
        Stored::created(view)
    })
    .await
}

/// A deal's money (docs/royalties.md § Balances), exact decimals in its currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesView {
    pub deal_id: String,
    pub currency: String,
    /// The recoupable advance (0 when the deal has none).
    pub advance: String,
    /// Paid toward it by the installments (installment money pays the fee first).
    pub advance_paid: String,
    /// Recouped by confirmed statements.
    pub recouped: String,
    pub unrecouped: String,
    /// Minimum-guarantee shortfall topped up in confirmed statements (owed with them).
    pub guarantee_top_up: String,
    /// Payable in confirmed statements.
    pub royalties_payable: String,
    pub royalties_paid: String,
    pub royalties_outstanding: String,
    /// The outstanding part of overdue statements.
    pub royalties_overdue: String,
    /// Payable in current statements not yet confirmed (issued or disputed): not owed yet.
    pub royalties_under_review: String,
    pub installments_total: String,
    pub installments_paid: String,
    pub installments_outstanding: String,
    /// Installments plus confirmed royalties.
    pub total_owed: String,
    pub total_paid: String,
    pub total_outstanding: String,
}

impl From<Balances> for BalancesView {
    fn from(b: Balances) -> Self {
        let c = b.currency;
        let m = |minor: i64| c.format_amount(c.from_minor_units(minor));
        BalancesView {
            deal_id: b.deal_id,
            currency: c.code().to_string(),
            advance: m(b.advance),
            advance_paid: m(b.advance_paid),
            recouped: m(b.recouped),
            unrecouped: m(b.unrecouped),
            guarantee_top_up: m(b.guarantee_top_up),
            royalties_payable: m(b.royalties_payable),
            royalties_paid: m(b.royalties_paid),
            royalties_outstanding: m(b.royalties_outstanding),
            royalties_overdue: m(b.royalties_overdue),
            royalties_under_review: m(b.royalties_under_review),
            installments_total: m(b.installments_total),
            installments_paid: m(b.installments_paid),
            installments_outstanding: m(b.installments_outstanding),
            total_owed: m(b.total_owed),
            total_paid: m(b.total_paid),
            total_outstanding: m(b.total_outstanding),
        }
    }
}

/// The balances of an executed deal (either party): advance paid, recouped and
/// unrecouped, guarantee top-ups, royalties payable, paid and outstanding, totals.
#[utoipa::path(tag = "royalties", security(("bearer" = [])), responses(
    (status = 200, body = BalancesView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The deal is not executed", body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/balances")]
pub async fn deal_balances(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let balances = state
        .db
        .run(move |conn| lifecycle::balances(conn, &org, &id))
        .await?;
    Ok(HttpResponse::Ok().json(BalancesView::from(balances)))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload_usage_report)
        .service(list_usage_reports)
        .service(list_statements)
        // The CSV before the JSON form: `{id}` alone would also match `….csv`.
        .service(statement_csv)
        .service(get_statement)
        .service(deal_statements)
        .service(dispute_statement)
        .service(confirm_statement)
        .service(record_statement_payment)
        .service(deal_balances);
}
