//! Requests: a licensee lists the music it wants (a selector or an ISRC list),
//! where, how, for how long and for what budget, publicly or for named
//! organizations. Licensors find them and answer by opening a deal.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::listings::{offer_views, request_view, request_views, OfferView, RequestView};
use super::marketplace::{cursor_of, page_of_matches, parse_expiry, AudienceInput};
use super::pagination::{decode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::marketplace::{self, MarketRequest};
use crate::db::{DbConnection, DbError};
use crate::domain::account::parse_display_name;
use crate::domain::isrc::Isrc;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::selector::Selector;
use crate::domain::territory::Territories;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;
use crate::marketplace::requests::{self, NewRequest};

/// Most ISRCs one request may list (a larger want-list is a selector).
pub const MAX_REQUEST_ISRCS: usize = 100_000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub title: String,
    /// The music wanted, as a selector evaluated in each offering catalog…
    pub selector: Option<Selector>,
    /// …or as a list of ISRCs (exactly one of the two).
    pub isrcs: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 codes, or `["worldwide"]`.
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Decimal string in `currency`; optional.
    #[schema(example = "2000000.00")]
    pub budget: Option<String>,
    #[schema(value_type = crate::domain::money::Currency)]
    pub currency: String,
    /// `"public"` or a list of organization ids.
    pub visibility: AudienceInput,
    /// RFC 3339 instant after which the request expires.
    #[schema(format = DateTime, example = "2027-03-31T00:00:00Z")]
    pub expires_at: String,
}

/// Publish a request for music. Negotiators and owners only.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), request_body = CreateRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$")),
    responses(
    (status = 201, body = RequestView, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
    (status = 409, description = "A request with the same Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/requests")]
pub async fn create_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let body = body.into_inner();
    // Taken before `body` moves into the work.
    let fingerprint = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = caller.user_id().to_string();
    idempotency::once_for(&state, &req, &user, &fingerprint, || {
        create_request_once(state.clone(), caller, body)
    })
    .await
}

/// Creates the request (run at most once per `Idempotency-Key`).
async fn create_request_once(
    state: web::Data<AppState>,
    caller: Caller,
    body: CreateRequest,
) -> Result<Stored, ApiError> {
    let org = caller.organization_id().to_string();
    let mut errors = ValidationErrors::new();
    let title = parse_display_name(&body.title)
        .map_err(|m| errors.push("title", m))
        .ok();
    let wanted = match (&body.selector, &body.isrcs) {
        (Some(selector), None) => selector
            .clone()
            .validate()
            .map(|s| (Some(s.to_selector()), None))
            .map_err(|e| errors.0.extend(e.nested("selector").0))
            .ok(),
        (None, Some(isrcs)) => parse_isrcs(isrcs, &mut errors).map(|list| (None, Some(list))),
        _ => {
            errors.push("selector", "give exactly one of `selector` and `isrcs`");
            None
        }
    };
    let territories = Territories::parse_list_at("territories", &body.territories)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let usages = Usages::parse_list_at("usages", &body.usages)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let period = Period::validate(body.start_date, body.end_date, "end_date")
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let currency = Currency::parse(&body.currency)
        .map_err(|e| errors.push("currency", e.to_string()))
        .ok();
    let budget = match (&body.budget, currency) {
        (Some(amount), Some(currency)) => Some(
            currency
                .parse_amount(amount)
                .and_then(|a| currency.to_minor_units(a).map_err(|e| e.to_string()))
                .map_err(|e| errors.push("budget", e))
                .ok(),
        ),
        _ => None,
    };
    let audience = body
        .visibility
        .parse(&org)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let expires_at = parse_expiry(&body.expires_at, Utc::now(), &mut errors);
    let input = NewRequest {
        title,
        wanted,
        territories,
        usages,
        period,
        currency,
        budget,
        audience,
        requested_targets: body.visibility.targets().to_vec(),
        expires_at,
        errors,
    };
    let author = caller.author();
    let view = state
        .db
        .run(move |conn| {
            let request = requests::create(conn, &author, input)?;
            Ok::<_, ApiError>(own_view(conn, &author.organization_id, request, true)?)
        })
        .await?;
    Stored::created(view)
}

/// Normalizes an ISRC list (hyphens removed, duplicates dropped); errors name
/// `isrcs[i]`.
fn parse_isrcs(items: &[String], errors: &mut ValidationErrors) -> Option<Vec<String>> {
    if items.is_empty() {
        errors.push("isrcs", "must list at least one ISRC");
        return None;
    }
    if items.len() > MAX_REQUEST_ISRCS {
        errors.push(
            "isrcs",
            format!("at most {MAX_REQUEST_ISRCS} ISRCs; use a selector for more"),
        );
        return None;
    }
    let before = errors.0.len();
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match Isrc::parse(item) {
            Ok(isrc) => list.push(isrc.into_string()),
            Err(e) if errors.0.len() - before < 100 => {
                errors.push(format!("isrcs[{i}]"), e.to_string())
            }
            Err(_) => {}
        }
    }
    if errors.0.len() > before {
        return None;
    }
    list.sort();
    list.dedup();
    Some(list)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// Only the caller's own requests, in every state (default: every open request visible to the caller).
    pub mine: Option<bool>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Open requests visible to the caller (public, targeted at it, or its own),
/// newest first; or with `mine=true` the caller's own in every state.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(RequestListQuery), responses(
    (status = 200, body = Page<RequestView>),
))]
#[get("/requests")]
pub async fn list_requests(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RequestListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mine = query.mine == Some(true);
    let viewer = caller.organization_id().to_string();
    let page = state
        .db
        .run(move |conn| {
            let mut rows = marketplace::list_requests(
                conn,
                &viewer,
                mine,
                after.as_deref(),
                i64::from(limit) + 1,
            )?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|r| cursor_of(&r.id))
            } else {
                None
            };
            Ok::<_, ApiError>(Page {
                items: request_views(conn, &viewer, rows)?,
                next_cursor,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn viewable_request(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<MarketRequest, ApiError> {
    let viewer = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| marketplace::find_viewable_request(conn, &viewer, &id))
        .await?
        .ok_or(ApiError::NotFound("request"))
}

/// One request with its ISRC list: the licensee sees it in any state; others
/// only while it is open and meant for them.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = RequestView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/requests/{id}")]
pub async fn get_request(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let request = viewable_request(&state, &caller, path.into_inner()).await?;
    let viewer = caller.organization_id().to_string();
    let view = state
        .db
        .run(move |conn| {
            let name = organization_name(conn, &request.organization_id)?;
            request_view(conn, &viewer, request, name, true)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Withdraw an open request. Negotiators and owners of the licensee only.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = RequestView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/requests/{id}/withdraw")]
pub async fn withdraw_request(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let author = caller.author();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let request = requests::withdraw(conn, &author, &id)?;
            Ok::<_, ApiError>(own_view(conn, &author.organization_id, request, false)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The view of a request of the caller's organization.
fn own_view(
    conn: &mut DbConnection,
    org: &str,
    request: MarketRequest,
    with_isrcs: bool,
) -> Result<RequestView, DbError> {
    let name = organization_name(conn, org)?;
    request_view(conn, org, request, name, with_isrcs)
}

/// An organization's name (empty when it is gone).
fn organization_name(conn: &mut DbConnection, id: &str) -> Result<String, DbError> {
    Ok(marketplace::organization_names(conn, &[id])?
        .remove(id)
        .unwrap_or_default())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferMatch {
    pub offer: OfferView,
    /// How many of the requested tracks the offer's slice holds.
    pub covered_tracks: u64,
    /// How many of the requested tracks the offer's catalog has at all.
    pub requested_tracks_in_catalog: u64,
    /// Whether the asking price fits the budget (null without a budget or across currencies).
    pub within_budget: Option<bool>,
}

/// The open offers visible to the caller that cover this request — every
/// territory, usage and day — with how many of the requested tracks each holds
/// (requested ISRCs resolved in the offer's catalog, or the request's selector
/// evaluated there, intersected with the slice). Most tracks first.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<OfferMatch>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/requests/{id}/matches")]
pub async fn request_matches(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let cursor = page.cursor.clone();
    let request = viewable_request(&state, &caller, path.into_inner()).await?;
    let viewer = caller.organization_id().to_string();
    let postings = state.postings.clone();
    let page = state
        .db
        .run(move |conn| {
            let found = requests::matching_offers(conn, &postings, &viewer, &request)?;
            let (rows, next_cursor) = page_of_matches(found, cursor.as_deref(), limit)?;
            let mut counts = Vec::with_capacity(rows.len());
            let mut offers = Vec::with_capacity(rows.len());
            for (covered, in_catalog, budget, offer) in rows {
                counts.push((covered, in_catalog, budget));
                offers.push(offer);
            }
            let items = offer_views(conn, &viewer, offers)?
                .into_iter()
                .zip(counts)
                .map(|(offer, (covered, in_catalog, within_budget))| OfferMatch {
                    offer,
                    covered_tracks: covered,
                    requested_tracks_in_catalog: in_catalog,
                    within_budget,
                })
                .collect();
            Ok::<_, ApiError>(Page { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_request)
        .service(list_requests)
        .service(get_request)
        .service(withdraw_request)
        .service(request_matches);
}
