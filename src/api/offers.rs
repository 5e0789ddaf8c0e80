//! Offers: a licensor lists one of its slices with asking terms, publicly or
//! for named organizations, until an expiry. Browsing, filters, facets, and the
//! requests an offer could satisfy. Visibility rules are in docs/marketplace.md.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::{Caller, Claimed};
use super::catalogs::TrackView;
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::listings::{offer_views, request_views, OfferView, RequestView};
use super::marketplace::{bad_cursor, cursor_of, page_of_matches, parse_expiry, AudienceInput};
use super::pagination::{decode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::read_cache::{self, View};
use super::state::AppState;
use super::track_lists::{slice_csv, slice_track_page, TrackPageQuery, TrackPaging};
use crate::db::catalogs::{self, Slice};
use crate::db::marketplace::{self, FacetCount, Offer, OfferCursor, OfferFilter, OfferSort};
use crate::db::DbConnection;
use crate::domain::account::parse_display_name;
use crate::domain::money::Currency;
use crate::domain::role::Role;
use crate::domain::selector::fold_key;
use crate::domain::terms::TermSheetInput;
use crate::domain::territory::Territory;
use crate::domain::usage::Usage;
use crate::domain::ValidationErrors;
use crate::marketplace::offers::{self, NewOffer};

// ---- create, publish, withdraw ------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOffer {
    pub title: String,
    /// One of the caller's slices; must equal `terms.slice_id`.
    pub slice_id: String,
    /// The asking terms, validated against the catalog's holding.
    pub terms: TermSheetInput,
    /// `"public"` or a list of organization ids.
    pub visibility: AudienceInput,
    /// RFC 3339 instant after which the offer expires.
    #[schema(format = DateTime, example = "2027-03-31T00:00:00Z")]
    pub expires_at: String,
    /// Publish at once (default), or keep as a draft to publish later.
    #[serde(default = "yes")]
    pub publish: bool,
}

fn yes() -> bool {
    true
}

/// List a slice with asking terms. The terms are validated against what the
/// catalog holds (territories, usages, period, sublicensable) and the market rules
/// (`GET /market-rules`), each problem named by its field (`terms.territories[1]`,
/// `terms.exclusive`). Negotiators and owners only.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), request_body = CreateOffer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$")),
    responses(
    (status = 201, body = OfferView, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
    (status = 409, description = "A request with the same Idempotency-Key is in flight", body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/offers")]
pub async fn create_offer(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateOffer>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let body = body.into_inner();
    // Taken before `body` moves into the work.
    let fingerprint = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = caller.user_id().to_string();
    idempotency::once_for(&state, &req, &user, &fingerprint, || {
        create_offer_once(state.clone(), caller, body)
    })
    .await
}

/// Creates the offer (run at most once per `Idempotency-Key`).
async fn create_offer_once(
    state: web::Data<AppState>,
    caller: Caller,
    body: CreateOffer,
) -> Result<Stored, ApiError> {
    Stored::created(create_offer_view(&state, caller, body).await?)
}

/// Parses and creates the offer, as its author sees it; the web app's offer form posts
/// here too.
pub(crate) async fn create_offer_view(
    state: &AppState,
    caller: Caller,
    body: CreateOffer,
) -> Result<OfferView, ApiError> {
    let org = caller.organization_id().to_string();
    let started = Utc::now();
    let mut errors = ValidationErrors::new();
    let title = parse_display_name(&body.title)
        .map_err(|m| errors.push("title", m))
        .ok();
    let audience = body
        .visibility
        .parse(&org)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let expires_at = parse_expiry(&body.expires_at, started, &mut errors);
    if body.terms.slice_id != body.slice_id {
        errors.push("terms.slice_id", "must equal `slice_id`");
    }
    let input = NewOffer {
        title,
        requested_targets: body.visibility.targets().to_vec(),
        slice_id: body.slice_id,
        terms: body.terms,
        audience,
        expires_at,
        publish: body.publish,
        started,
        errors,
    };
    let author = caller.author();
    let postings = state.postings.clone();
    let rules = state.market_rules.clone();
    state
        .db
        .run(move |conn| {
            let offer = offers::create(conn, &postings, &rules, &author, input)?;
            one_view(conn, &author.organization_id, offer)
        })
        .await
}

/// The view of one offer, as its author sees it.
fn one_view(conn: &mut DbConnection, org: &str, offer: Offer) -> Result<OfferView, ApiError> {
    offer_views(conn, org, vec![offer])?
        .pop()
        .ok_or_else(|| ApiError::Internal("offer view".into()))
}

/// Publish a draft offer (409 unless it is a draft that has not expired; 422 when a
/// market rule in force now forbids its terms).
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = OfferView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "A market rule forbids the offer's terms (`market_rules` names each rule)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/offers/{id}/publish")]
pub async fn publish_offer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let author = caller.author();
    let id = path.into_inner();
    let postings = state.postings.clone();
    let rules = state.market_rules.clone();
    let view = state
        .db
        .run(move |conn| {
            let offer = offers::publish(conn, &postings, &rules, &author, &id)?;
            one_view(conn, &author.organization_id, offer)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Withdraw a draft or published offer; it leaves the marketplace at once.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = OfferView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/offers/{id}/withdraw")]
pub async fn withdraw_offer(
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
            let offer = offers::withdraw(conn, &author, &id)?;
            one_view(conn, &author.organization_id, offer)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

// ---- browse -------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// ISO 3166-1 code the offer must include (worldwide offers include every code).
    pub territory: Option<String>,
    /// A usage the offer must include.
    pub usage: Option<String>,
    /// The slice has at least one track of this genre (exact after case folding).
    pub genre: Option<String>,
    /// The slice has at least one track of this label (exact after case folding).
    pub label: Option<String>,
    /// At least this many tracks.
    pub min_tracks: Option<i64>,
    /// Asking price (upfront fee + minimum guarantee) at most this decimal amount; needs `currency`.
    pub max_price: Option<String>,
    /// Only offers asking in this currency.
    pub currency: Option<String>,
    pub exclusive: Option<bool>,
    /// The licensor's organization id.
    pub licensor: Option<String>,
    /// `newest` (default), `price` (lowest first; needs `currency`) or `size` (most tracks first).
    pub sort: Option<String>,
    /// Compute facet counts (default true).
    pub facets: Option<bool>,
    /// Only the caller's own offers, in every state (`status` filters them); other filters ignored.
    pub mine: Option<bool>,
    /// With `mine`: draft, published, withdrawn or expired.
    pub status: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacetValue {
    pub value: String,
    /// How many offers of the filtered set have it.
    pub offers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Facets {
    pub genre: Vec<FacetValue>,
    pub label: Vec<FacetValue>,
    pub territory: Vec<FacetValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferPage {
    pub items: Vec<OfferView>,
    pub next_cursor: Option<String>,
    /// Offers passing the filters, over all pages (absent with `facets=false`).
    pub total: Option<i64>,
    /// Top values over all filtered offers (absent with `facets=false`).
    pub facets: Option<Facets>,
}

/// Most values returned per facet.
const FACET_TOP: i64 = 20;

fn parse_filter(q: &BrowseQuery) -> Result<(OfferFilter, OfferSort), ApiError> {
    let mut errors = ValidationErrors::new();
    let territory = match q.territory.as_deref() {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("worldwide") => Some("worldwide".to_string()),
        Some(t) => Territory::parse(t)
            .map(|t| t.as_str().to_string())
            .map_err(|e| errors.push("territory", e.to_string()))
            .ok(),
    };
    let usage = q.usage.as_deref().and_then(|u| {
        u.parse::<Usage>()
            .map(|u| u.as_str().to_string())
            .map_err(|e| errors.push("usage", e.to_string()))
            .ok()
    });
    let currency = q.currency.as_deref().and_then(|c| {
        Currency::parse(c)
            .map_err(|e| errors.push("currency", e.to_string()))
            .ok()
    });
    let max_price = match (&q.max_price, currency) {
        (None, _) => None,
        (Some(_), None) => {
            if q.currency.is_none() {
                errors.push("currency", "is required with `max_price`");
            }
            None
        }
        (Some(amount), Some(currency)) => currency
            .parse_amount(amount)
            .and_then(|a| currency.to_minor_units(a).map_err(|e| e.to_string()))
            .map_err(|e| errors.push("max_price", e))
            .ok(),
    };
    if q.min_tracks.is_some_and(|n| n < 0) {
        errors.push("min_tracks", "must not be negative");
    }
    let sort = match q.sort.as_deref() {
        None | Some("newest") => OfferSort::Newest,
        Some("price") => {
            // Prices in different currencies do not compare.
            if q.currency.is_none() {
                errors.push("currency", "is required to sort by price");
            }
            OfferSort::Price
        }
        Some("size") => OfferSort::Size,
        Some(other) => {
            errors.push(
                "sort",
                format!("must be newest, price or size (got `{other}`)"),
            );
            OfferSort::Newest
        }
    };
    errors.into_result()?;
    let folded = |v: &Option<String>| v.as_deref().map(fold_key).filter(|k| !k.is_empty());
    Ok((
        OfferFilter {
            territory,
            usage,
            genre: folded(&q.genre),
            label: folded(&q.label),
            min_tracks: q.min_tracks,
            max_price,
            currency: currency.map(|c| c.code().to_string()),
            exclusive: q.exclusive,
            licensor: q.licensor.clone(),
        },
        sort,
    ))
}

/// Cursors are `n|micros|id`, `p|minor|id` or `s|tracks|id`: the sort key of the
/// last offer of the page, so a page never repeats or skips an offer.
fn parse_offer_cursor(cursor: &str, sort: OfferSort) -> Result<OfferCursor, ApiError> {
    let decoded = decode_cursor(cursor)?;
    let mut parts = decoded.splitn(3, '|');
    let (Some(tag), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_cursor());
    };
    let number: i64 = key.parse().map_err(|_| bad_cursor())?;
    let id = id.to_string();
    match (tag, sort) {
        ("n", OfferSort::Newest) => DateTime::from_timestamp_micros(number)
            .map(|t| OfferCursor::Newest(t.naive_utc(), id))
            .ok_or_else(bad_cursor),
        ("p", OfferSort::Price) => Ok(OfferCursor::Price(number, id)),
        ("s", OfferSort::Size) => Ok(OfferCursor::Size(number, id)),
        _ => Err(bad_cursor()),
    }
}

fn offer_cursor_key(offer: &Offer, sort: OfferSort) -> String {
    match sort {
        OfferSort::Newest => format!(
            "n|{}|{}",
            offer
                .published_at
                .unwrap_or(offer.created_at)
                .and_utc()
                .timestamp_micros(),
            offer.id
        ),
        OfferSort::Price => format!("p|{}|{}", offer.asking_minor, offer.id),
        OfferSort::Size => format!("s|{}|{}", offer.track_count, offer.id),
    }
}

fn facet_values(counts: Vec<FacetCount>) -> Vec<FacetValue> {
    counts
        .into_iter()
        .map(|c| FacetValue {
            value: c.value,
            offers: c.offers,
        })
        .collect()
}

/// Browse the marketplace: open offers visible to the caller (public, targeted
/// at its organization, or its own), filtered, sorted, cursor-paginated, with
/// facet counts by genre, label and territory over the whole filtered set.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(BrowseQuery), responses(
    (status = 200, body = OfferPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers")]
pub async fn browse_offers(
    req: HttpRequest,
    state: web::Data<AppState>,
    claimed: Claimed,
    query: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let browse = Browse::parse(&query)?;
    if let Browse::Mine { .. } = browse {
        // One's own offers, in any state: not a marketplace answer, never cached.
        let page = state
            .db
            .run(move |conn| {
                let viewer = claimed.resolve(conn)?.organization_id().to_string();
                browse.page(conn, &viewer)
            })
            .await?;
        return Ok(HttpResponse::Ok().json(page));
    }
    let request = req.query_string().to_string();
    read_cache::market_answer(
        &state,
        View::Browse,
        claimed,
        request,
        move |conn, viewer| browse.page(conn, viewer),
    )
    .await
}

/// One page of the marketplace as `viewer` sees it: what `GET /offers` answers, also
/// rendered by the web app's marketplace page.
pub(crate) async fn browse_page(
    state: &AppState,
    viewer: &str,
    query: BrowseQuery,
) -> Result<OfferPage, ApiError> {
    let browse = Browse::parse(&query)?;
    let viewer = viewer.to_string();
    state.db.run(move |conn| browse.page(conn, &viewer)).await
}

/// A browse request, parsed once.
enum Browse {
    /// The caller's own offers, any state, newest first.
    Mine {
        after: Option<String>,
        status: Option<String>,
        limit: u32,
    },
    /// The marketplace as the caller sees it.
    Market {
        filter: OfferFilter,
        sort: OfferSort,
        cursor: Option<OfferCursor>,
        limit: u32,
        with_facets: bool,
    },
}

impl Browse {
    fn parse(query: &BrowseQuery) -> Result<Self, ApiError> {
        let limit = PageQuery {
            limit: query.limit,
            cursor: None,
        }
        .limit()?;
        if query.mine == Some(true) {
            return Ok(Browse::Mine {
                after: query.cursor.as_deref().map(decode_cursor).transpose()?,
                status: query.status.clone(),
                limit,
            });
        }
        let (filter, sort) = parse_filter(query)?;
        let cursor = query
            .cursor
            .as_deref()
            .map(|c| parse_offer_cursor(c, sort))
            .transpose()?;
        Ok(Browse::Market {
            filter,
            sort,
            cursor,
            limit,
            with_facets: query.facets.unwrap_or(true),
        })
    }

    fn page(&self, conn: &mut DbConnection, viewer: &str) -> Result<OfferPage, ApiError> {
        match self {
            Browse::Mine {
                after,
                status,
                limit,
            } => {
                let limit = *limit as usize;
                let mut rows = marketplace::list_own_offers(
                    conn,
                    viewer,
                    status.as_deref(),
                    after.as_deref(),
                    limit as i64 + 1,
                )?;
                let more = rows.len() > limit;
                rows.truncate(limit);
                let last = more.then(|| rows.last().map(|o| o.id.clone())).flatten();
                Ok(OfferPage {
                    items: offer_views(conn, viewer, rows)?,
                    next_cursor: last.map(|id| cursor_of(&id)),
                    total: None,
                    facets: None,
                })
            }
            Browse::Market {
                filter,
                sort,
                cursor,
                limit,
                with_facets,
            } => {
                let limit = *limit as usize;
                let mut rows = marketplace::browse_offers(
                    conn,
                    viewer,
                    filter,
                    *sort,
                    cursor.as_ref(),
                    limit as i64 + 1,
                )?;
                let more = rows.len() > limit;
                rows.truncate(limit);
                let next_cursor = if more {
                    rows.last().map(|o| cursor_of(&offer_cursor_key(o, *sort)))
                } else {
                    None
                };
                let (total, facets) = if *with_facets {
                    let f = marketplace::offer_facets_cached(conn, viewer, filter, FACET_TOP)?;
                    (
                        Some(f.total),
                        Some(Facets {
                            genre: facet_values(f.genre),
                            label: facet_values(f.label),
                            territory: facet_values(f.territory),
                        }),
                    )
                } else {
                    (None, None)
                };
                Ok(OfferPage {
                    items: offer_views(conn, viewer, rows)?,
                    next_cursor,
                    total,
                    facets,
                })
            }
        }
    }
}

/// One offer: the licensor sees it in any state; others only while it is open
/// and meant for them (404 otherwise, like a missing one).
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = OfferView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}")]
pub async fn get_offer(
    state: web::Data<AppState>,
    claimed: Claimed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    read_cache::market_answer(
        &state,
        View::Offer,
        claimed,
        id.clone(),
        move |conn, viewer| viewable_offer(conn, viewer, &id),
    )
    .await
}

/// The offer as `viewer` may see it (404 as for a missing one otherwise); the web app's
/// offer page reads it here too.
pub(crate) fn viewable_offer(
    conn: &mut DbConnection,
    viewer: &str,
    id: &str,
) -> Result<OfferView, ApiError> {
    let offer =
        marketplace::find_viewable_offer(conn, viewer, id)?.ok_or(ApiError::NotFound("offer"))?;
    let mut views = offer_views(conn, viewer, vec![offer])?;
    views.pop().ok_or(ApiError::NotFound("offer"))
}

// ---- the offered tracks -------------------------------------------------------------

/// The slice an offer lists, for an organization that may see the offer: exactly the
/// check of `GET /offers/{id}` (the licensor in any state; others while it is open and
/// public or targeted at them), so whoever reads the offer can read every track of it,
/// and nobody else learns that it exists. (Public for `cadenza bench catalog`, which
/// times this path.)
pub fn offered_slice(conn: &mut DbConnection, viewer: &str, id: &str) -> Result<Slice, ApiError> {
    let offer =
        marketplace::find_viewable_offer(conn, viewer, id)?.ok_or(ApiError::NotFound("offer"))?;
    catalogs::find_slice(conn, &offer.slice_id)?.ok_or(ApiError::NotFound("slice"))
}

/// Every track of the offered slice, in track order, cursor-paginated exactly like
/// `GET /slices/{id}/tracks`, for any organization that can see the offer (404 otherwise,
/// as for `GET /offers/{id}`). A slice never changes once cut, so this is the list a
/// deal opened from the offer signs for.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(TrackPageQuery), responses(
    (status = 200, body = Page<TrackView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}/tracks")]
pub async fn offer_tracks(
    req: HttpRequest,
    state: web::Data<AppState>,
    claimed: Claimed,
    path: web::Path<String>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = TrackPaging::parse(&page)?;
    let id = path.into_inner();
    // The slice never changes; the market version covers whether the caller may see it.
    let request = format!("{id}?{}", req.query_string());
    read_cache::market_answer(
        &state,
        View::OfferTracks,
        claimed,
        request,
        move |conn, viewer| {
            let slice = offered_slice(conn, viewer, &id)?;
            slice_track_page(conn, &slice, paging)
        },
    )
    .await
}

/// Every track of the offered slice as CSV
/// (`isrc,title,artists,label,genre,release_date,duration_ms`), streamed in chunks, for
/// any organization that can see the offer. Cells a spreadsheet would evaluate carry a
/// leading `'` (see `docs/api.md`, "CSV exports").
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"offer-<id>.csv\"`"))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}/tracks.csv")]
pub async fn offer_tracks_csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.organization_id().to_string();
    let id = path.into_inner();
    let filename = format!("offer-{id}.csv");
    slice_csv(&state, filename, move |conn| {
        offered_slice(conn, &viewer, &id)
    })
    .await
}

// ---- matching -----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestMatch {
    pub request: RequestView,
    /// How many of the requested tracks the offer's slice holds.
    pub covered_tracks: u64,
    /// How many of the requested tracks the offer's catalog has at all.
    pub requested_tracks_in_catalog: u64,
    /// Whether the asking price fits the request's budget (null when there is no
    /// budget or the currencies differ).
    pub within_budget: Option<bool>,
}

/// The open requests (visible to the licensor) this offer could satisfy: the offer
/// covers every territory, usage and day they ask for, and its slice holds at
/// least one of the requested tracks. Licensor only.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<RequestMatch>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}/matches")]
pub async fn offer_matches(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let cursor = page.cursor.clone();
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let postings = state.postings.clone();
    let page = state
        .db
        .run(move |conn| {
            let found = offers::matching_requests(conn, &postings, &org, &id)?;
            let (rows, next_cursor) = page_of_matches(found, cursor.as_deref(), limit)?;
            let mut counts = Vec::with_capacity(rows.len());
            let mut requests = Vec::with_capacity(rows.len());
            for (covered, in_catalog, budget, request) in rows {
                counts.push((covered, in_catalog, budget));
                requests.push(request);
            }
            let views = request_views(conn, &org, requests)?;
            let items: Vec<RequestMatch> = views
                .into_iter()
                .zip(counts)
                .map(
                    |(request, (covered, in_catalog, within_budget))| RequestMatch {
                        request,
                        covered_tracks: covered,
                        requested_tracks_in_catalog: in_catalog,
                        within_budget,
                    },
                )
                .collect();
            Ok::<_, ApiError>(Page { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_offer)
        .service(browse_offers)
        .service(get_offer)
        .service(offer_tracks)
        .service(offer_tracks_csv)
        .service(publish_offer)
        .service(withdraw_offer)
        .service(offer_matches);
}
