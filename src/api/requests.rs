//! Requests: a licensee lists the music it wants (a selector or an ISRC list),
//! where, how, for how long and for what budget, publicly or for named
//! organizations. Licensors find them and answer by opening a deal.

use std::collections::HashMap;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::marketplace::{check_targets, cursor_of, parse_expiry, AudienceInput, OrganizationRef};
use super::offers::{offer_covers, offer_views, page_of_matches, within_budget, OfferView};
use super::pagination::{decode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use crate::app::AppState;
use crate::db::audit::AuditEvent;
use crate::db::marketplace::{self, MarketRequest, REQUEST_OPEN, REQUEST_WITHDRAWN};
use crate::db::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::parse_display_name;
use crate::domain::isrc::Isrc;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::selector::Selector;
use crate::domain::territory::Territories;
use crate::domain::trackset::TrackSet;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;

/// Most ISRCs one request may list (a larger want-list is a selector).
pub const MAX_REQUEST_ISRCS: usize = 100_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub title: String,
    /// The licensee.
    pub organization: OrganizationRef,
    /// open, closed, withdrawn or expired.
    pub status: String,
    /// `public` or `targeted`.
    pub visibility: String,
    /// Shown to the licensee only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_organization_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// The requested ISRCs (on `GET /requests/{id}` only; lists show `isrc_count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isrcs: Option<Vec<String>>,
    pub isrc_count: i64,
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Decimal string in `currency`.
    pub budget: Option<String>,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {e}"))
}

fn request_view(
    conn: &mut DbConnection,
    viewer_org: &str,
    r: MarketRequest,
    org_name: String,
    with_isrcs: bool,
) -> Result<RequestView, DbError> {
    let currency = Currency::parse(&r.currency).map_err(|e| corrupt("request currency", e))?;
    let targets = if r.organization_id == viewer_org {
        Some(marketplace::request_targets(conn, &r.id)?)
    } else {
        None
    };
    let selector = r
        .selector
        .as_deref()
        .map(serde_json::from_str::<Selector>)
        .transpose()
        .map_err(|e| corrupt("request selector", e))?;
    let isrcs = match (&r.isrcs, with_isrcs) {
        (Some(list), true) => {
            Some(serde_json::from_str(list).map_err(|e| corrupt("request isrcs", e))?)
        }
        _ => None,
    };
    Ok(RequestView {
        organization: OrganizationRef {
            id: r.organization_id,
            name: org_name,
        },
        target_organization_ids: targets,
        selector,
        isrcs,
        territories: serde_json::from_str(&r.territories)
            .map_err(|e| corrupt("request territories", e))?,
        usages: serde_json::from_str(&r.usages).map_err(|e| corrupt("request usages", e))?,
        budget: r
            .budget_minor
            .map(|b| currency.format_amount(currency.from_minor_units(b))),
        id: r.id,
        title: r.title,
        status: r.status,
        visibility: r.visibility,
        isrc_count: r.isrc_count,
        start_date: r.start_date,
        end_date: r.end_date,
        currency: r.currency,
        expires_at: r.expires_at.and_utc(),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// Views of requests as `viewer_org` sees them (without the ISRC lists).
pub fn request_views(
    conn: &mut DbConnection,
    viewer_org: &str,
    requests: Vec<MarketRequest>,
) -> Result<Vec<RequestView>, DbError> {
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.organization_id.as_str())
        .collect();
    let names = marketplace::organization_names(conn, &ids)?;
    requests
        .into_iter()
        .map(|r| {
            let name = names.get(&r.organization_id).cloned().unwrap_or_default();
            request_view(conn, viewer_org, r, name, false)
        })
        .collect()
}

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
    let user_id = caller.user_id().to_string();
    let view = state
        .db
        .run(move |conn| {
            if let Some(audience) = &audience {
                if let Err(ApiError::Validation(e)) =
                    check_targets(conn, &body.visibility, audience)
                {
                    errors.0.extend(e.0);
                }
            }
            let (
                Some(title),
                Some((selector, isrcs)),
                Some(territories),
                Some(usages),
                Some(period),
                Some(currency),
                Some(audience),
                Some(expires_at),
            ) = (
                title,
                wanted,
                territories,
                usages,
                period,
                currency,
                audience,
                expires_at,
            )
            else {
                return Err(ApiError::from(errors));
            };
            errors.into_result()?;
            let at = now();
            let request = MarketRequest {
                id: new_id(),
                organization_id: org.clone(),
                title,
                selector: selector.as_ref().map(to_json).transpose()?,
                isrc_count: isrcs.as_ref().map_or(0, |l: &Vec<String>| l.len() as i64),
                isrcs: isrcs.as_ref().map(to_json).transpose()?,
                territories: to_json(&territories)?,
                usages: to_json(&usages)?,
                start_date: period.start,
                end_date: period.end,
                budget_minor: budget.flatten(),
                currency: currency.code().to_string(),
                visibility: audience.visibility.to_string(),
                status: REQUEST_OPEN.to_string(),
                expires_at,
                created_at: at,
                updated_at: at,
            };
            write_transaction(conn, |conn| {
                marketplace::insert_request(conn, &request, &audience.targets)?;
                AuditEvent::new("request.created", "request", Some(&request.id))
                    .by(Some(&org), Some(&user_id))
                    .after(serde_json::json!({"title": request.title,
                        "visibility": request.visibility, "targets": audience.targets,
                        "territories": territories, "usages": usages,
                        "start_date": request.start_date, "end_date": request.end_date,
                        "isrc_count": request.isrc_count, "selector": selector,
                        "budget_minor": request.budget_minor, "currency": request.currency}))
                    .write(conn)?;
                Ok::<_, DbError>(())
            })?;
            let name = marketplace::organization_names(conn, &[org.as_str()])?
                .remove(&org)
                .unwrap_or_default();
            Ok::<_, ApiError>(request_view(conn, &org, request, name, true)?)
        })
        .await?;
    Stored::created(view)
}

/// A value as the JSON text stored in a column.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
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
            let name = marketplace::organization_names(conn, &[request.organization_id.as_str()])?
                .remove(&request.organization_id)
                .unwrap_or_default();
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
    let org = caller.organization_id().to_string();
    let user_id = caller.user_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let own = |conn: &mut DbConnection| {
                marketplace::find_request(conn, &id).map(|r| r.filter(|r| r.organization_id == org))
            };
            let request = own(conn)?.ok_or(ApiError::NotFound("request"))?;
            write_transaction(conn, |conn| {
                if !marketplace::transition_request(
                    conn,
                    &id,
                    &[REQUEST_OPEN],
                    REQUEST_WITHDRAWN,
                    now(),
                )? {
                    return Err(ApiError::Conflict {
                        detail: format!(
                            "a request in state `{}` cannot be withdrawn",
                            request.status
                        ),
                        extensions: Some(serde_json::Map::from_iter([
                            ("state".to_string(), serde_json::json!(request.status)),
                            ("allowed_actions".to_string(), serde_json::json!([])),
                        ])),
                    });
                }
                AuditEvent::new("request.withdrawn", "request", Some(&id))
                    .by(Some(&org), Some(&user_id))
                    .before(serde_json::json!({"status": request.status}))
                    .after(serde_json::json!({"status": REQUEST_WITHDRAWN}))
                    .write(conn)?;
                Ok::<_, ApiError>(())
            })?;
            let request = own(conn)?.ok_or(ApiError::NotFound("request"))?;
            let name = marketplace::organization_names(conn, &[org.as_str()])?
                .remove(&org)
                .unwrap_or_default();
            Ok::<_, ApiError>(request_view(conn, &org, request, name, false)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
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
            let mut candidates = Vec::new();
            for offer in marketplace::open_visible_offers(conn, &viewer)? {
                if offer.organization_id != request.organization_id
                    && offer_covers(&offer, &request)?
                {
                    candidates.push(offer);
                }
            }
            let refs: Vec<_> = candidates.iter().collect();
            let sets = marketplace::offer_slice_sets(conn, &refs)?;
            // The requested set depends only on the catalog: resolve it once per catalog.
            let mut requested: HashMap<i64, TrackSet> = HashMap::new();
            let mut found = Vec::new();
            for offer in candidates {
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    requested.entry(offer.catalog_no)
                {
                    slot.insert(marketplace::requested_tracks(
                        conn,
                        &postings,
                        &request,
                        offer.catalog_no,
                    )?);
                }
                let (Some(wanted), Some(slice)) =
                    (requested.get(&offer.catalog_no), sets.get(&offer.id))
                else {
                    continue;
                };
                let covered = wanted.intersection_len(slice);
                if covered > 0 {
                    let budget = within_budget(&offer, &request);
                    found.push((
                        covered,
                        offer.id.clone(),
                        (covered, wanted.len(), budget, offer),
                    ));
                }
            }
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
