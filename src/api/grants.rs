//! The transfers recorded at execution: grants (rights given or received, with
//! their frozen track sets and a CSV export), the payment schedule with
//! recorded payments, and catalog availability.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::catalogs::TrackView;
use super::csv_export::{tracks_csv, GRANT_COLUMNS};
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::track_lists::{track_page, TrackPageQuery, TrackPaging};
use crate::db::catalogs;
use crate::db::deals::{self as deal_rows, GrantSummary, InstallmentRow};
use crate::db::{stored, DbError};
use crate::deals::execution::available_tracks;
use crate::deals::payments::{self, NewPayment};
use crate::deals::DealError;
use crate::domain::grant::{GrantStatus, RightsQuery};
use crate::domain::installment::InstallmentStatus;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::territory::Territories;
use crate::domain::trackset::TrackSet;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub deal_id: String,
    pub licensor_org_id: String,
    pub licensee_org_id: String,
    pub catalog_id: String,
    pub slice_id: String,
    pub track_count: i64,
    /// SHA-256 of the sorted track ids (docs/domain.md).
    pub tracks_hash: String,
    #[schema(value_type = Vec<String>)]
    pub territories: serde_json::Value,
    #[schema(value_type = Vec<String>)]
    pub usages: serde_json::Value,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub exclusive: bool,
    pub sublicensable: bool,
    /// The signed revision's hash.
    pub terms_hash: String,
    /// `active`, `terminated` or `completed`.
    pub status: String,
    pub terminated_at: Option<DateTime<Utc>>,
    pub termination_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<GrantSummary> for GrantView {
    type Error = crate::db::DbError;
    fn try_from(g: GrantSummary) -> Result<Self, Self::Error> {
        Ok(Self {
            territories: crate::db::stored_json("grants.territories", &g.territories)?,
            usages: crate::db::stored_json("grants.usages", &g.usages)?,
            id: g.id,
            deal_id: g.deal_id,
            licensor_org_id: g.licensor_org_id,
            licensee_org_id: g.licensee_org_id,
            catalog_id: g.catalog_id,
            slice_id: g.slice_id,
            track_count: g.track_count,
            tracks_hash: g.tracks_hash,
            start_date: g.start_date,
            end_date: g.end_date,
            exclusive: g.exclusive,
            sublicensable: g.sublicensable,
            terms_hash: g.terms_hash,
            status: crate::db::stored::<GrantStatus>("grants.status", &g.status)?.to_string(),
            terminated_at: g.terminated_at.map(|t| t.and_utc()),
            termination_reason: g.termination_reason,
            created_at: g.created_at.and_utc(),
        })
    }
}

/// Rights granted by or to the caller's organization.
#[utoipa::path(tag = "grants", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Page<GrantView>)))]
#[get("/grants")]
pub async fn list_grants(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?;
    let org = caller.organization_id().to_string();
    let rows = state
        .db
        .run(move |conn| {
            deal_rows::list_grants_for_org(conn, &org, after.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    let views = rows
        .into_iter()
        .map(GrantView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |g| g.id.clone(), |g| g)))
}

pub(crate) async fn party_grant(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<GrantSummary, ApiError> {
    let org = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| deal_rows::find_grant(conn, &id))
        .await?
        .filter(|g| g.licensor_org_id == org || g.licensee_org_id == org)
        .ok_or(ApiError::NotFound("grant"))
}

/// One grant (licensor or licensee only).
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, body = GrantView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}")]
pub async fn get_grant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(GrantView::try_from(
        party_grant(&state, &caller, path.into_inner()).await?,
    )?))
}

/// The granted tracks, in track order, cursor-paginated.
#[utoipa::path(tag = "grants", security(("bearer" = [])), params(TrackPageQuery), responses(
    (status = 200, body = Page<TrackView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/tracks")]
pub async fn grant_tracks(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = TrackPaging::parse(&page)?;
    let grant = party_grant(&state, &caller, path.into_inner()).await?;
    let page = state
        .db
        .run(move |conn| {
            let (catalog_no, set) = granted_set(conn, &grant)?;
            track_page(conn, catalog_no, &set, paging)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A grant's frozen track set, with the number of the catalog its ids belong to.
pub(crate) fn granted_set(
    conn: &mut crate::db::DbConnection,
    grant: &GrantSummary,
) -> Result<(i64, TrackSet), ApiError> {
    let catalog =
        catalogs::find_catalog(conn, &grant.catalog_id)?.ok_or(ApiError::NotFound("catalog"))?;
    Ok((
        catalog.no,
        catalogs::decode_set(&deal_rows::grant_tracks(conn, &grant.id)?)?,
    ))
}

/// Every granted ISRC as CSV (`isrc,title,artists,label,release_date`), for loading
/// into a platform's own systems. Streams in chunks; memory stays flat. Cells a
/// spreadsheet would evaluate (leading `=`, `+`, `-`, `@`, tab, CR) carry a leading `'`
/// (see `docs/api.md`, "CSV exports").
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"grant-<id>.csv\"`"))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/tracks.csv")]
pub async fn grant_tracks_csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let grant = party_grant(&state, &caller, path.into_inner()).await?;
    let filename = format!("grant-{}.csv", grant.id);
    let (catalog_no, set) = state.db.run(move |conn| granted_set(conn, &grant)).await?;
    Ok(tracks_csv(
        state.db.clone(),
        catalog_no,
        set,
        GRANT_COLUMNS,
        &filename,
    ))
}

// ---- installments and payments ----------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub amount: String,
    pub paid_on: NaiveDate,
    pub reference: String,
    pub recorded_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstallmentView {
    pub id: String,
    pub seq: i32,
    pub due_date: NaiveDate,
    pub currency: String,
    /// Decimal string, exactly the currency's minor units.
    pub amount: String,
    pub paid: String,
    pub balance: String,
    /// `scheduled`, `due`, `paid`, `partially_paid`, `overdue` or `cancelled`.
    pub status: String,
    pub payments: Vec<PaymentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub deal_id: String,
    pub currency: Option<String>,
    pub total: String,
    pub paid: String,
    /// What is still owed (cancelled installments excluded).
    pub balance: String,
    pub installments: Vec<InstallmentView>,
}

fn money(currency: &Currency, minor: i64) -> String {
    currency.format_amount(currency.from_minor_units(minor))
}

/// One installment as shown; a stored status or currency the code does not know is
/// corrupt data, never shown as something else.
fn installment_view(
    row: InstallmentRow,
    payments: Vec<PaymentView>,
) -> Result<InstallmentView, DbError> {
    let currency: Currency = stored("installments.currency", &row.currency)?;
    let status: InstallmentStatus = stored("installments.status", &row.status)?;
    let balance = if status == InstallmentStatus::Cancelled {
        0
    } else {
        row.amount_minor - row.paid_minor
    };
    Ok(InstallmentView {
        amount: money(&currency, row.amount_minor),
        paid: money(&currency, row.paid_minor),
        balance: money(&currency, balance),
        id: row.id,
        seq: row.seq,
        due_date: row.due_date,
        currency: row.currency,
        status: status.to_string(),
        payments,
    })
}

/// The payment schedule of an executed deal, with balances and recorded payments.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, body = ScheduleView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/installments")]
pub async fn schedule(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| schedule_view(conn, &org, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The payment schedule of deal `id` as organization `org` may see it (404 for a deal it
/// is not a party to); the web app's schedule page reads it here too.
pub(crate) fn schedule_view(
    conn: &mut crate::db::DbConnection,
    org: &str,
    id: String,
) -> Result<ScheduleView, DealError> {
    deal_rows::find_deal_for_org(conn, org, &id)?.ok_or(DealError::NotFound("deal"))?;
    let rows = deal_rows::installments_for_deal(conn, &id)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let payments = deal_rows::payments_for_installments(conn, &ids)?;
    let currency = rows
        .first()
        .map(|r| crate::db::stored::<Currency>("installments.currency", &r.currency))
        .transpose()?;
    let cancelled = InstallmentStatus::Cancelled.as_str();
    let live = rows.iter().filter(|r| r.status != cancelled);
    let total: i64 = live.clone().map(|r| r.amount_minor).sum();
    let paid: i64 = rows.iter().map(|r| r.paid_minor).sum();
    let balance: i64 = live.map(|r| r.amount_minor - r.paid_minor).sum();
    let fmt = |minor: i64| {
        currency
            .as_ref()
            .map_or_else(|| minor.to_string(), |c| money(c, minor))
    };
    let installments = rows
        .into_iter()
        .map(|r| {
            let mine = payments
                .iter()
                .filter(|p| p.installment_id == r.id)
                .map(|p| PaymentView {
                    id: p.id.clone(),
                    amount: fmt(p.amount_minor),
                    paid_on: p.paid_on,
                    reference: p.reference.clone(),
                    recorded_by: p.recorded_by.clone(),
                })
                .collect();
            installment_view(r, mine)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScheduleView {
        deal_id: id,
        currency: currency.map(|c| c.code().to_string()),
        total: fmt(total),
        paid: fmt(paid),
        balance: fmt(balance),
        installments,
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Decimal string in the installment's currency; at most the balance.
    pub amount: String,
    pub paid_on: NaiveDate,
    /// The bank or remittance reference.
    pub reference: String,
}

/// Record money received against an installment (the licensor's negotiators and up).
/// Overpayment is refused. Send an `Idempotency-Key` so a retried request can never
/// record the same payment twice.
#[utoipa::path(tag = "grants", security(("bearer" = [])), request_body = PaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$")),
    responses(
    (status = 201, body = InstallmentView, headers(
        ("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"),
    )),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The installment was cancelled by a termination, or a request with the same Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/installments/{id}/payments")]
pub async fn record_payment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<PaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let body = body.into_inner();
    let org = caller.organization_id().to_string();
    let user = caller.user_id().to_string();
    let id = path.into_inner();
    // The path (the installment) is part of the fingerprint already.
    idempotency::once_for(&state, &req, caller.user_id(), &body, || async {
        let payment = NewPayment {
            amount: body.amount.clone(),
            paid_on: body.paid_on,
            reference: body.reference.clone(),
        };
        let id = id.clone();
        let view = state
            .db
            .run(move |conn| {
                let row = payments::record_payment(conn, &org, &user, &id, payment)?;
                let currency = Currency::parse(&row.currency).ok();
                let recorded =
                    deal_rows::payments_for_installments(conn, std::slice::from_ref(&row.id))?
                        .into_iter()
                        .map(|p| PaymentView {
                            amount: currency.as_ref().map_or_else(
                                || p.amount_minor.to_string(),
                                |c| money(c, p.amount_minor),
                            ),
                            id: p.id,
                            paid_on: p.paid_on,
                            reference: p.reference,
                            recorded_by: p.recorded_by,
                        })
                        .collect();
                Ok::<_, DealError>(installment_view(row, recorded)?)
            })
            .await?;
        Stored::created(view)
    })
    .await
}

// ---- availability -------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Comma-separated ISO codes, or `worldwide`.
    pub territories: String,
    /// Comma-separated usages.
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Whether the rights would be exclusive (default false).
    pub exclusive: Option<bool>,
    /// Tracks per page, 1 to 1,000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityView {
    pub catalog_id: String,
    pub catalog_track_count: i64,
    /// Tracks that could still be licensed with these rights.
    pub available_count: u64,
    pub tracks: Page<TrackView>,
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// How many tracks of the catalog (and which, paginated) can still be licensed for
/// these territories, usages, period and exclusivity: the catalog minus every
/// existing grant that would conflict.
#[utoipa::path(tag = "grants", security(("bearer" = [])), params(AvailabilityQuery), responses(
    (status = 200, body = AvailabilityView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/availability")]
pub async fn availability(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let view = availability_view(&state, org, path.into_inner(), query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// What of `org`'s catalog `id` could still be licensed with the rights `query` names
/// (404 for another organization's catalog); the web app's catalog page asks it too.
pub(crate) async fn availability_view(
    state: &AppState,
    org: String,
    id: String,
    query: AvailabilityQuery,
) -> Result<AvailabilityView, ApiError> {
    let mut errors = ValidationErrors::new();
    let territories = Territories::parse_list_at("territories", &split_list(&query.territories))
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let usages = Usages::parse_list_at("usages", &split_list(&query.usages))
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let period = Period::validate(query.start_date, query.end_date, "end_date")
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let (Some(territories), Some(usages), Some(period)) = (territories, usages, period) else {
        return Err(errors.into());
    };
    let wanted = RightsQuery {
        territories,
        usages,
        period,
        exclusive: query.exclusive.unwrap_or(false),
    };
    let paging = TrackPaging::parse(&TrackPageQuery {
        limit: query.limit,
        cursor: query.cursor,
    })?;
    state
        .db
        .run(move |conn| {
            let catalog = catalogs::find_owned_catalog(conn, &org, &id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            let free = available_tracks(conn, &catalog, &wanted)?;
            Ok::<_, ApiError>(AvailabilityView {
                tracks: track_page(conn, catalog.no, &free, paging)?,
                catalog_id: catalog.id,
                catalog_track_count: catalog.track_count,
                available_count: free.len(),
            })
        })
        .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_grants)
        .service(get_grant)
        .service(grant_tracks)
        .service(grant_tracks_csv)
        .service(schedule)
        .service(record_payment)
        .service(availability);
}
