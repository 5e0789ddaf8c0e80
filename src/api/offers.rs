//! Offers: a licensor lists one of its slices with asking terms, publicly or
//! for named organizations, until an expiry. Browsing, filters, facets, and the
//! requests an offer could satisfy. Visibility rules are in docs/marketplace.md.

use std::collections::HashMap;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::catalogs::TrackView;
use super::extract::ApiJson;
use super::idempotency::{self, Stored};
use super::marketplace::{check_targets, cursor_of, parse_expiry, AudienceInput, OrganizationRef};
use super::pagination::{decode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::requests::{request_views, RequestView};
use crate::app::AppState;
use crate::db::audit::AuditEvent;
use crate::db::catalogs::TrackRow;
use crate::db::marketplace::{
    self, FacetCount, MarketRequest, Offer, OfferCursor, OfferFilter, OfferSort, OFFER_DRAFT,
    OFFER_PUBLISHED, OFFER_WITHDRAWN, VISIBILITY_PUBLIC,
};
use crate::db::notifications::{notify, Audience as NotifyAudience, Notification};
use crate::db::postings_cache::PostingsCache;
use crate::db::{catalogs, new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::parse_display_name;
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::selector::fold_key;
use crate::domain::terms::{TermSheet, TermSheetInput, TermsContext};
use crate::domain::territory::{Territories, Territory};
use crate::domain::trackset::TrackSet;
use crate::domain::usage::{Usage, Usages};
use crate::domain::ValidationErrors;
use crate::mail::event::ListingRef;
use crate::mail::Event;

// ---- views ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub title: String,
    /// draft, published, withdrawn or expired.
    pub status: String,
    /// `public` or `targeted`.
    pub visibility: String,
    /// The organizations a targeted offer is meant for; shown to the licensor only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_organization_ids: Option<Vec<String>>,
    pub licensor: OrganizationRef,
    /// The catalog the slice is cut from.
    pub catalog: CatalogRef,
    pub slice_id: String,
    pub track_count: i64,
    /// The slice's first tracks by track id.
    pub sample_tracks: Vec<TrackView>,
    /// The asking terms (a full term sheet); a deal opened from the offer starts from them.
    pub terms: TermSheetInput,
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub exclusive: bool,
    pub currency: String,
    /// Upfront fee + minimum guarantee, a decimal string in `currency`.
    pub asking_price: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {e}"))
}

/// Views of `offers` as `viewer_org` sees them, in the given order, with names and
/// sample tracks loaded in bulk.
pub fn offer_views(
    conn: &mut DbConnection,
    viewer_org: &str,
    offers: Vec<Offer>,
) -> Result<Vec<OfferView>, DbError> {
    let org_ids: Vec<&str> = offers.iter().map(|o| o.organization_id.as_str()).collect();
    let orgs = marketplace::organization_names(conn, &org_ids)?;
    let catalog_nos: Vec<i64> = offers.iter().map(|o| o.catalog_no).collect();
    let catalog_names = marketplace::catalog_names(conn, &catalog_nos)?;
    // Sample tracks with one query per catalog on the page, not one per offer.
    let mut samples: HashMap<i64, Vec<u32>> = HashMap::new();
    let mut sample_ids_of = Vec::with_capacity(offers.len());
    for o in &offers {
        let ids: Vec<u32> =
            serde_json::from_str(&o.sample_track_ids).map_err(|e| corrupt("offer sample", e))?;
        samples.entry(o.catalog_no).or_default().extend(&ids);
        sample_ids_of.push(ids);
    }
    let mut tracks: HashMap<(i64, i32), TrackRow> = HashMap::new();
    for (catalog_no, mut ids) in samples {
        ids.sort_unstable();
        ids.dedup();
        for row in catalogs::tracks_by_ids(conn, catalog_no, &ids)? {
            tracks.insert((catalog_no, row.track_id), row);
        }
    }
    let mut views = Vec::with_capacity(offers.len());
    for (o, sample_ids) in offers.into_iter().zip(sample_ids_of) {
        let sample_tracks = sample_ids
            .iter()
            .filter_map(|&id| i32::try_from(id).ok())
            .filter_map(|id| tracks.get(&(o.catalog_no, id)).cloned())
            .map(TrackView::from)
            .collect();
        let targets = if o.organization_id == viewer_org {
            Some(marketplace::offer_targets(conn, &o.id)?)
        } else {
            None
        };
        let currency = Currency::parse(&o.currency).map_err(|e| corrupt("offer currency", e))?;
        views.push(OfferView {
            terms: serde_json::from_str(&o.terms).map_err(|e| corrupt("offer terms", e))?,
            territories: serde_json::from_str(&o.territories)
                .map_err(|e| corrupt("offer territories", e))?,
            usages: serde_json::from_str(&o.usages).map_err(|e| corrupt("offer usages", e))?,
            asking_price: currency.format_amount(currency.from_minor_units(o.asking_minor)),
            licensor: OrganizationRef {
                name: orgs.get(&o.organization_id).cloned().unwrap_or_default(),
                id: o.organization_id,
            },
            catalog: CatalogRef {
                name: catalog_names
                    .get(&o.catalog_no)
                    .cloned()
                    .unwrap_or_default(),
                id: o.catalog_id,
            },
            target_organization_ids: targets,
            id: o.id,
            title: o.title,
            status: o.status,
            visibility: o.visibility,
            slice_id: o.slice_id,
            track_count: o.track_count,
            sample_tracks,
            exclusive: o.exclusive,
            currency: o.currency,
            start_date: o.start_date,
            end_date: o.end_date,
            expires_at: o.expires_at.and_utc(),
            created_at: o.created_at.and_utc(),
            published_at: o.published_at.map(|t| t.and_utc()),
            updated_at: o.updated_at.and_utc(),
        });
    }
    Ok(views)
}

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

/// The catalog's holding as terms must fit in it.
fn terms_context(catalog: &catalogs::Catalog) -> Result<TermsContext, DbError> {
    Ok(TermsContext {
        territories: serde_json::from_str::<Territories>(&catalog.territories)
            .map_err(|e| corrupt("catalog territories", e))?,
        usages: serde_json::from_str::<Usages>(&catalog.usages)
            .map_err(|e| corrupt("catalog usages", e))?,
        period: Period::new(catalog.holding_start, catalog.holding_end)
            .map_err(|e| corrupt("catalog holding", e))?,
        sublicensable: catalog.sublicensable,
    })
}

/// List a slice with asking terms. The terms are validated against what the
/// catalog holds (territories, usages, period, sublicensable), each problem named
/// by its field (`terms.territories[1]`). Negotiators and owners only.
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
    let user_id = caller.user_id().to_string();
    let actor_name = caller.user.name.clone();
    let postings = state.postings.clone();
    let view = state
        .db
        .run(move |conn| {
            let slice = catalogs::find_owned_slice(conn, &org, &body.slice_id)?;
            if slice.is_none() {
                errors.push("slice_id", "no slice of your organization has this id");
            }
            let catalog = match &slice {
                Some(s) => catalogs::find_catalog(conn, &s.catalog_id)?,
                None => None,
            };
            let sheet = match &catalog {
                Some(catalog) => TermSheet::parse(&body.terms, &terms_context(catalog)?, started)
                    .map_err(|e| errors.0.extend(e.nested("terms").0))
                    .ok(),
                None => None,
            };
            if let Some(audience) = &audience {
                if let Err(ApiError::Validation(e)) =
                    check_targets(conn, &body.visibility, audience)
                {
                    errors.0.extend(e.0);
                }
            }
            let (
                Some(title),
                Some(audience),
                Some(expires_at),
                Some(slice),
                Some(catalog),
                Some(sheet),
            ) = (title, audience, expires_at, slice, catalog, sheet)
            else {
                return Err(ApiError::from(errors));
            };
            errors.into_result()?;
            let currency = sheet.currency();
            let asking_minor = currency
                .to_minor_units(sheet.scheduled_total())
                .map_err(|e| ValidationErrors::single("terms", e.to_string()))?;
            let set = catalogs::decode_set(&slice.bitmap)?;
            let at = now();
            let id = new_id();
            let offer = Offer {
                id: id.clone(),
                organization_id: org.clone(),
                slice_id: slice.id.clone(),
                catalog_id: catalog.id.clone(),
                catalog_no: catalog.no,
                title,
                terms: sheet.canonical_json(),
                territories: serde_json::to_string(sheet.territories())
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                usages: serde_json::to_string(sheet.usages())
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                exclusive: sheet.exclusive(),
                currency: currency.code().to_string(),
                asking_minor,
                track_count: slice.track_count,
                sample_track_ids: serde_json::to_string(&set.sample(marketplace::SAMPLE_TRACKS))
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                start_date: sheet.period().start,
                end_date: sheet.period().end,
                visibility: audience.visibility.to_string(),
                status: if body.publish {
                    OFFER_PUBLISHED
                } else {
                    OFFER_DRAFT
                }
                .to_string(),
                expires_at,
                created_at: at,
                published_at: body.publish.then_some(at),
                updated_at: at,
            };
            // Bitmap work (one intersection per genre and label) happens before the
            // write transaction, so the write lock is held only for the inserts.
            let facets = marketplace::slice_facets(conn, &id, catalog.no, &set)?;
            write_transaction(conn, |conn| {
                marketplace::insert_offer(conn, &offer, &audience.targets, &facets)?;
                AuditEvent::new("offer.created", "offer", Some(&offer.id))
                    .by(Some(&org), Some(&user_id))
                    .after(
                        serde_json::json!({"title": offer.title, "slice_id": offer.slice_id,
                        "status": offer.status, "visibility": offer.visibility,
                        "targets": audience.targets, "terms": sheet}),
                    )
                    .write(conn)?;
                if offer.status == OFFER_PUBLISHED {
                    notify_matching_requests(conn, &postings, &offer, &set, &user_id, &actor_name)?;
                }
                Ok::<_, ApiError>(())
            })?;
            let mut views = offer_views(conn, &org, vec![offer])?;
            views
                .pop()
                .ok_or_else(|| ApiError::Internal("offer view".into()))
        })
        .await?;
    Stored::created(view)
}

/// Whether `offer` can license everything `request` asks for: every territory,
/// every usage, and the whole period.
pub fn offer_covers(offer: &Offer, request: &MarketRequest) -> Result<bool, DbError> {
    let territories = |s: &str| {
        serde_json::from_str::<Territories>(s).map_err(|e| corrupt("stored territories", e))
    };
    let usages =
        |s: &str| serde_json::from_str::<Usages>(s).map_err(|e| corrupt("stored usages", e));
    Ok(
        territories(&offer.territories)?.covers(&territories(&request.territories)?)
            && usages(&offer.usages)?.covers(&usages(&request.usages)?)
            && offer.start_date <= request.start_date
            && request.end_date <= offer.end_date,
    )
}

/// Tells the licensees of the open requests a newly published offer can satisfy
/// (and that may see the offer), in the publishing transaction.
fn notify_matching_requests(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    offer: &Offer,
    slice: &TrackSet,
    actor_user_id: &str,
    _actor_name: &str,
) -> Result<(), ApiError> {
    let targets = marketplace::offer_targets(conn, &offer.id)?;
    let licensor = marketplace::organization_names(conn, &[offer.organization_id.as_str()])?
        .remove(&offer.organization_id)
        .unwrap_or_default();
    for request in marketplace::open_visible_requests(conn, &offer.organization_id)? {
        let may_see =
            offer.visibility == VISIBILITY_PUBLIC || targets.contains(&request.organization_id);
        if request.organization_id == offer.organization_id
            || !may_see
            || !offer_covers(offer, &request)?
        {
            continue;
        }
        let covered = marketplace::requested_tracks(conn, postings, &request, offer.catalog_no)?
            .intersection_len(slice);
        if covered == 0 {
            continue;
        }
        let event = Event::OfferMatchedRequest {
            offer: ListingRef {
                id: offer.id.clone(),
                name: offer.title.clone(),
            },
            request: ListingRef {
                id: request.id.clone(),
                name: request.title.clone(),
            },
            licensor: licensor.clone(),
            track_count: covered,
        };
        notify(
            conn,
            Notification {
                event: &event,
                audiences: vec![NotifyAudience {
                    organization_id: &request.organization_id,
                    counterparty: &licensor,
                    action_required: true,
                }],
                actor_user_id: Some(actor_user_id),
            },
        )?;
    }
    Ok(())
}

/// The caller's own offer, for a change (404 for anyone else's).
fn own_offer(conn: &mut DbConnection, org: &str, id: &str) -> Result<Offer, ApiError> {
    marketplace::find_offer(conn, id)?
        .filter(|o| o.organization_id == org)
        .ok_or(ApiError::NotFound("offer"))
}

fn not_allowed(offer: &Offer, action: &str) -> ApiError {
    let allowed: &[&str] = match offer.status.as_str() {
        OFFER_DRAFT => &["publish", "withdraw"],
        OFFER_PUBLISHED => &["withdraw"],
        _ => &[],
    };
    ApiError::Conflict {
        detail: format!("an offer in state `{}` cannot be {action}", offer.status),
        extensions: Some(serde_json::Map::from_iter([
            ("state".to_string(), serde_json::json!(offer.status)),
            ("allowed_actions".to_string(), serde_json::json!(allowed)),
        ])),
    }
}

/// Publish a draft offer (409 unless it is a draft that has not expired).
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = OfferView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/offers/{id}/publish")]
pub async fn publish_offer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let org = caller.organization_id().to_string();
    let user_id = caller.user_id().to_string();
    let actor_name = caller.user.name.clone();
    let id = path.into_inner();
    let postings = state.postings.clone();
    let view = state
        .db
        .run(move |conn| {
            let offer = own_offer(conn, &org, &id)?;
            if offer.status != OFFER_DRAFT {
                return Err(not_allowed(&offer, "published"));
            }
            if offer.expires_at <= now() {
                return Err(ApiError::conflict(
                    "the offer's expiry has passed; create a new offer",
                ));
            }
            let slice =
                catalogs::find_slice(conn, &offer.slice_id)?.ok_or(ApiError::NotFound("slice"))?;
            let set = catalogs::decode_set(&slice.bitmap)?;
            let at = now();
            write_transaction(conn, |conn| {
                if !marketplace::transition_offer(conn, &id, &[OFFER_DRAFT], OFFER_PUBLISHED, at)? {
                    return Err(not_allowed(&offer, "published"));
                }
                AuditEvent::new("offer.published", "offer", Some(&id))
                    .by(Some(&org), Some(&user_id))
                    .before(serde_json::json!({"status": offer.status}))
                    .after(serde_json::json!({"status": OFFER_PUBLISHED}))
                    .write(conn)?;
                let published = own_offer(conn, &org, &id)?;
                notify_matching_requests(conn, &postings, &published, &set, &user_id, &actor_name)?;
                Ok::<_, ApiError>(())
            })?;
            let offer = own_offer(conn, &org, &id)?;
            let mut views = offer_views(conn, &org, vec![offer])?;
            views
                .pop()
                .ok_or_else(|| ApiError::Internal("offer view".into()))
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
    let org = caller.organization_id().to_string();
    let user_id = caller.user_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let offer = own_offer(conn, &org, &id)?;
            write_transaction(conn, |conn| {
                if !marketplace::transition_offer(
                    conn,
                    &id,
                    &[OFFER_DRAFT, OFFER_PUBLISHED],
                    OFFER_WITHDRAWN,
                    now(),
                )? {
                    let current = own_offer(conn, &org, &id)?;
                    return Err(not_allowed(&current, "withdrawn"));
                }
                AuditEvent::new("offer.withdrawn", "offer", Some(&id))
                    .by(Some(&org), Some(&user_id))
                    .before(serde_json::json!({"status": offer.status}))
                    .after(serde_json::json!({"status": OFFER_WITHDRAWN}))
                    .write(conn)?;
                Ok::<_, ApiError>(())
            })?;
            let offer = own_offer(conn, &org, &id)?;
            let mut views = offer_views(conn, &org, vec![offer])?;
            views
                .pop()
                .ok_or_else(|| ApiError::Internal("offer view".into()))
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

fn bad_cursor() -> ApiError {
    ApiError::BadRequest {
        detail: "is not a cursor returned by this API for this sort".into(),
        field: Some("cursor".into()),
    }
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
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let viewer = caller.organization_id().to_string();
    if query.mine == Some(true) {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let status = query.status.clone();
        let (rows, views) = state
            .db
            .run(move |conn| {
                let mut rows = marketplace::list_own_offers(
                    conn,
                    &viewer,
                    status.as_deref(),
                    after.as_deref(),
                    i64::from(limit) + 1,
                )?;
                let more = rows.len() > limit as usize;
                rows.truncate(limit as usize);
                let last = more.then(|| rows.last().map(|o| o.id.clone())).flatten();
                Ok::<_, ApiError>((last, offer_views(conn, &viewer, rows)?))
            })
            .await?;
        return Ok(HttpResponse::Ok().json(OfferPage {
            items: views,
            next_cursor: rows.map(|id| cursor_of(&id)),
            total: None,
            facets: None,
        }));
    }
    let (filter, sort) = parse_filter(&query)?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| parse_offer_cursor(c, sort))
        .transpose()?;
    let with_facets = query.facets.unwrap_or(true);
    let page = state
        .db
        .run(move |conn| {
            let mut rows = marketplace::browse_offers(
                conn,
                &viewer,
                &filter,
                sort,
                cursor.as_ref(),
                i64::from(limit) + 1,
            )?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|o| cursor_of(&offer_cursor_key(o, sort)))
            } else {
                None
            };
            let (total, facets) = if with_facets {
                let f = marketplace::offer_facets_cached(conn, &viewer, &filter, FACET_TOP)?;
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
            Ok::<_, ApiError>(OfferPage {
                items: offer_views(conn, &viewer, rows)?,
                next_cursor,
                total,
                facets,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
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
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let offer = marketplace::find_viewable_offer(conn, &viewer, &id)?
                .ok_or(ApiError::NotFound("offer"))?;
            let mut views = offer_views(conn, &viewer, vec![offer])?;
            views.pop().ok_or(ApiError::NotFound("offer"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
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

/// Whether an asking price fits a budget (unknown across currencies or without one).
pub fn within_budget(offer: &Offer, request: &MarketRequest) -> Option<bool> {
    match request.budget_minor {
        Some(budget) if request.currency == offer.currency => Some(offer.asking_minor <= budget),
        _ => None,
    }
}

/// Sorts matches by covered tracks (most first) then id, and cuts the page after
/// the cursor `covered|id`.
pub fn page_of_matches<T>(
    mut matches: Vec<(u64, String, T)>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    matches.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    if let Some(cursor) = cursor {
        let decoded = decode_cursor(cursor)?;
        let (covered, id) = decoded
            .split_once('|')
            .and_then(|(c, id)| c.parse::<u64>().ok().map(|c| (c, id.to_string())))
            .ok_or_else(bad_cursor)?;
        matches.retain(|m| m.0 < covered || (m.0 == covered && m.1 > id));
    }
    let more = matches.len() > limit as usize;
    matches.truncate(limit as usize);
    let next = if more {
        matches
            .last()
            .map(|m| cursor_of(&format!("{}|{}", m.0, m.1)))
    } else {
        None
    };
    Ok((matches.into_iter().map(|m| m.2).collect(), next))
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
            let offer = own_offer(conn, &org, &id)?;
            let slice =
                catalogs::find_slice(conn, &offer.slice_id)?.ok_or(ApiError::NotFound("slice"))?;
            let set = catalogs::decode_set(&slice.bitmap)?;
            let mut found = Vec::new();
            for request in marketplace::open_visible_requests(conn, &org)? {
                if request.organization_id == org || !offer_covers(&offer, &request)? {
                    continue;
                }
                let requested =
                    marketplace::requested_tracks(conn, &postings, &request, offer.catalog_no)?;
                let covered = requested.intersection_len(&set);
                if covered > 0 {
                    let budget = within_budget(&offer, &request);
                    found.push((
                        covered,
                        request.id.clone(),
                        (covered, requested.len(), budget, request),
                    ));
                }
            }
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
        .service(publish_offer)
        .service(withdraw_offer)
        .service(offer_matches);
}
