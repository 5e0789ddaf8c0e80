//! Usage reports and royalty statements of a grant (`crate::royalties`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::catalogs::streamed_body;
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::royalties::{self as storage, StatementRow, UsageReportRow};
use crate::db::{stored_json, DbError};
use crate::domain::money::Currency;
use crate::domain::ValidationErrors;
use crate::import::usage_report::ReportLayout;
use crate::royalties::{self, ReportedLine, RoyaltiesError, StatementLineView};

impl From<RoyaltiesError> for ApiError {
    fn from(e: RoyaltiesError) -> Self {
        match e {
            RoyaltiesError::NotFound(what) => ApiError::NotFound(what),
            RoyaltiesError::Forbidden(why) => ApiError::Forbidden(why),
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
}

impl TryFrom<StatementRow> for StatementView {
    type Error = DbError;
    fn try_from(s: StatementRow) -> Result<Self, DbError> {
        let currency = Currency::parse(&s.currency)
            .map_err(|e| DbError::Corrupt(format!("statement currency: {e}")))?;
        let money = |minor: i64| currency.format_amount(currency.from_minor_units(minor));
        Ok(Self {
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
            storage::statements_of(conn, &accounted.grant.id)?
                .into_iter()
                .map(|s| StatementView::try_from(s).map_err(ApiError::from))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload_usage_report)
        .service(list_usage_reports)
        .service(list_statements);
}
