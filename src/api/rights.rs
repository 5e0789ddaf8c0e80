//! Chain of title at the edge: self-declared holdings with their history and
//! overrides, catalogs received through a grant, what backs a grant, and what
//! of an offered slice a platform already holds.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::catalogs::CatalogView;
use super::extract::ApiJson;
use super::pagination::{checked_limit, decode_cursor, encode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::track_lists::{TrackPageQuery, MAX_TRACKS_PER_PAGE};
use crate::db::holdings::{self, HoldingVersionRow};
use crate::db::{catalogs, deals as deal_rows, stored, stored_json, DbError};
use crate::deals::holdings::{HoldingChanged, HoldingTerms, OverrideTarget};
use crate::deals::{holdings as holding_service, received};
use crate::domain::account::parse_display_name;
use crate::domain::grant::LossCause;
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::territory::Territories;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;

/// Rights held, as typed: the catalog's own holding or one override.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldingInput {
    /// ISO 3166-1 alpha-2 codes, or `["worldwide"]`.
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub sublicensable: bool,
}

impl HoldingInput {
    fn parse(&self) -> Result<HoldingTerms, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let territories = Territories::parse_list_at("territories", &self.territories)
            .map_err(|e| errors.0.extend(e.0))
            .ok();
        let usages = Usages::parse_list_at("usages", &self.usages)
            .map_err(|e| errors.0.extend(e.0))
            .ok();
        let period = Period::validate(self.start_date, self.end_date, "end_date")
            .map_err(|e| errors.0.extend(e.0))
            .ok();
        match (territories, usages, period) {
            (Some(territories), Some(usages), Some(period)) => Ok(HoldingTerms {
                territories,
                usages,
                period,
                sublicensable: self.sublicensable,
            }),
            _ => Err(errors),
        }
    }
}

/// An override: exactly one of `label` and `isrc`, with the rights held for it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    /// Every track of this label (matched case- and space-insensitively).
    pub label: Option<String>,
    /// One recording.
    pub isrc: Option<String>,
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub sublicensable: bool,
}

/// One version of a holding.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingVersionView {
    /// The version's id (an override is removed by the id of its current version).
    pub id: String,
    /// `catalog`, `label`, `recording`, or `delivery` (a holding ERN deals gave a
    /// set of recordings: `recording_count`, and their ISRCs paged apart).
    pub scope: String,
    /// The label, the ISRC, or a delivered holding's content key; empty for the
    /// catalog's own holding.
    pub key: String,
    /// For a delivered holding: how many recordings this version covers (0 once
    /// every one has moved to another holding); their ISRCs are paged at
    /// `/catalogs/{id}/holding/versions/{version_id}/isrcs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_count: Option<u64>,
    pub version: i32,
    #[schema(value_type = Vec<String>)]
    pub territories: Territories,
    #[schema(value_type = Vec<String>)]
    pub usages: Usages,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub sublicensable: bool,
    /// Set on the version that removed an override.
    pub removed: bool,
    pub changed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
    /// When a later version replaced this one; null for the current version.
    pub superseded_at: Option<DateTime<Utc>>,
}

impl TryFrom<HoldingVersionRow> for HoldingVersionView {
    type Error = DbError;
    fn try_from(r: HoldingVersionRow) -> Result<Self, DbError> {
        let recording_count = r.delivered_recordings()?.map(|set| set.len());
        Ok(Self {
            recording_count,
            territories: stored_json("holding_versions.territories", &r.territories)?,
            usages: stored_json("holding_versions.usages", &r.usages)?,
            id: r.id,
            scope: r.scope,
            key: r.display,
            version: r.version,
            start_date: r.start_date,
            end_date: r.end_date,
            sublicensable: r.sublicensable,
            removed: r.removed,
            changed_by: r.changed_by,
            changed_at: r.changed_at.and_utc(),
            superseded_at: r.superseded_at.map(|t| t.and_utc()),
        })
    }
}

/// What a catalog holds now.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingView {
    pub catalog_id: String,
    /// For a catalog received through a grant: that grant, whose rights are the
    /// catalog's holding (no self-declared versions then).
    pub backing_grant_id: Option<String>,
    /// The catalog's own holding (current version); absent for a received catalog.
    pub holding: Option<HoldingVersionView>,
    /// Current label, recording and delivered overrides (a recording's own
    /// override wins over its delivered holding).
    pub overrides: Vec<HoldingVersionView>,
}

/// What a catalog holds: its own holding and overrides, or the grant it was received through.
#[utoipa::path(tag = "rights", security(("bearer" = [])), responses(
    (status = 200, body = HoldingView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/holding")]
pub async fn get_holding(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let catalog = catalogs::find_owned_catalog(conn, &org, &id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            let mut holding = None;
            let mut overrides = Vec::new();
            for row in holdings::current(conn, &catalog.id)? {
                let view = HoldingVersionView::try_from(row)?;
                if view.scope == "catalog" {
                    holding = Some(view);
                } else {
                    overrides.push(view);
                }
            }
            Ok::<_, ApiError>(HoldingView {
                catalog_id: catalog.id,
                backing_grant_id: catalog.backing_grant_id,
                holding,
                overrides,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Replace the catalog's own (self-declared) holding. A narrower holding marks
/// every grant it no longer covers, and everything granted on from them.
#[utoipa::path(tag = "rights", security(("bearer" = [])), request_body = HoldingInput, responses(
    (status = 200, body = HoldingChanged),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The catalog was received through a grant", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/catalogs/{id}/holding")]
pub async fn put_holding(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<HoldingInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Signer)?;
    let terms = body.into_inner().parse()?;
    let author = caller.author();
    let id = path.into_inner();
    let changed = state
        .db
        .run(move |conn| holding_service::set_catalog_holding(conn, &author, &id, &terms))
        .await?;
    Ok(HttpResponse::Ok().json(changed))
}

/// Set the rights held for one label or one recording of the catalog, instead
/// of the catalog's holding (replacing an earlier override of the same target).
#[utoipa::path(tag = "rights", security(("bearer" = [])), request_body = OverrideInput, responses(
    (status = 201, body = HoldingChanged),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The catalog was received through a grant", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/catalogs/{id}/holding/overrides")]
pub async fn post_override(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<OverrideInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Signer)?;
    let body = body.into_inner();
    let holding = HoldingInput {
        territories: body.territories,
        usages: body.usages,
        start_date: body.start_date,
        end_date: body.end_date,
        sublicensable: body.sublicensable,
    };
    let mut errors = ValidationErrors::new();
    let target = match (body.label, body.isrc) {
        (Some(label), None) if !label.trim().is_empty() => Some(OverrideTarget::Label(label)),
        (None, Some(isrc)) => Isrc::parse(&isrc)
            .map(OverrideTarget::Recording)
            .map_err(|e| errors.push("isrc", e.to_string()))
            .ok(),
        _ => {
            errors.push("label", "give exactly one of label and isrc");
            None
        }
    };
    let terms = holding.parse().map_err(|e| errors.0.extend(e.0)).ok();
    let (Some(target), Some(terms)) = (target, terms) else {
        return Err(errors.into());
    };
    let author = caller.author();
    let id = path.into_inner();
    let changed = state
        .db
        .run(move |conn| holding_service::set_override(conn, &author, &id, &target, &terms))
        .await?;
    Ok(HttpResponse::Created().json(changed))
}

/// Remove an override: its tracks are held under the catalog's holding again.
#[utoipa::path(tag = "rights", security(("bearer" = [])), responses(
    (status = 200, body = HoldingChanged),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The catalog was received through a grant", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/catalogs/{id}/holding/overrides/{override_id}")]
pub async fn delete_override(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Signer)?;
    let (id, override_id) = path.into_inner();
    let author = caller.author();
    let changed = state
        .db
        .run(move |conn| holding_service::remove_override(conn, &author, &id, &override_id))
        .await?;
    Ok(HttpResponse::Ok().json(changed))
}

/// Every version of the catalog's holding and overrides, newest first.
#[utoipa::path(tag = "rights", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<HoldingVersionView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/holding/history")]
pub async fn holding_history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let before = page.after()?;
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let rows = state
        .db
        .run(move |conn| {
            let catalog = catalogs::find_owned_catalog(conn, &org, &id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            Ok::<_, ApiError>(holdings::history(
                conn,
                &catalog.id,
                before.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    let views = rows
        .into_iter()
        .map(HoldingVersionView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.clone(), |v| v)))
}

/// The recordings a version of a delivered holding covers (any version, current or
/// not), as ISRCs in ISRC order, a page at a time; `next_cursor` is the page's last ISRC.
#[utoipa::path(tag = "rights", security(("bearer" = [])), params(TrackPageQuery), responses(
    (status = 200, body = Page<String>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such catalog of the caller's, or no such delivered holding version in it", body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/holding/versions/{version_id}/isrcs")]
pub async fn delivered_isrcs(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = checked_limit(page.limit, MAX_TRACKS_PER_PAGE)? as usize;
    let after = page
        .cursor
        .as_deref()
        .map(|cursor| {
            decode_cursor(cursor).and_then(|isrc| {
                Isrc::parse(&isrc)
                    .map(|isrc| isrc.key())
                    .map_err(|_| ApiError::bad_request("invalid cursor"))
            })
        })
        .transpose()?;
    let org = caller.organization_id().to_string();
    let (id, version_id) = path.into_inner();
    let recordings = state
        .db
        .run(move |conn| {
            let catalog = catalogs::find_owned_catalog(conn, &org, &id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            holdings::find_version(conn, &catalog.id, &version_id)?
                .map(|version| version.delivered_recordings())
                .transpose()?
                .flatten()
                .ok_or(ApiError::NotFound("delivered holding version"))
        })
        .await?;
    let mut keys = recordings.page_after(after, limit + 1);
    let more = keys.len() > limit;
    keys.truncate(limit);
    let isrcs = keys
        .iter()
        .map(|&key| {
            Isrc::from_key(key)
                .map(Isrc::into_string)
                .ok_or_else(|| DbError::Corrupt(format!("ISRC key {key} maps to no ISRC")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = isrcs
        .last()
        .filter(|_| more)
        .map(|isrc| encode_cursor(isrc));
    Ok(HttpResponse::Ok().json(Page {
        items: isrcs,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveGrant {
    /// The new catalog's name.
    pub name: String,
}

/// Take a received, sublicensable grant into a catalog of one's own: the
/// grant's tracks, held on the grant's terms, to cut slices from and offer on.
#[utoipa::path(tag = "rights", security(("bearer" = [])), request_body = ReceiveGrant, responses(
    (status = 201, body = CatalogView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The grant ended or already has its catalog", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The grant may not be sublicensed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/grants/{id}/catalog")]
pub async fn receive_grant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<ReceiveGrant>,
) -> Result<HttpResponse, ApiError> {
    let name = parse_display_name(&body.into_inner().name)
        .map_err(|m| ValidationErrors::single("name", m))?;
    let author = caller.author();
    let role = caller.role;
    let id = path.into_inner();
    let catalog = state
        .db
        .run(move |conn| received::receive(conn, &author, role, &id, name))
        .await?;
    Ok(HttpResponse::Created().json(CatalogView::try_from(catalog)?))
}

/// One way a grant lost (some of) its backing.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackingLossView {
    pub id: String,
    pub cause: LossCause,
    /// The grant up the chain that ended or lost its own backing.
    pub upstream_grant_id: Option<String>,
    /// The catalog whose rights no longer back the grant.
    pub catalog_id: String,
    pub track_count: i64,
    pub sample_isrcs: Vec<String>,
    /// The first day the tracks are no longer backed.
    pub lost_from: NaiveDate,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// What backs a grant and whether that backing still holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackingView {
    pub grant_id: String,
    /// The grant the licensor's catalog was received through, if it was.
    pub upstream_grant_id: Option<String>,
    /// `intact`, or `lost` once any tracks lost their backing.
    pub status: String,
    pub losses: Vec<BackingLossView>,
}

/// What a grant's rights rest on, and every loss of backing up the chain
/// (either party of the grant).
#[utoipa::path(tag = "rights", security(("bearer" = [])), responses(
    (status = 200, body = BackingView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/backing")]
pub async fn grant_backing(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let grant = deal_rows::find_grant(conn, &id)?
                .filter(|g| g.licensor_org_id == org || g.licensee_org_id == org)
                .ok_or(ApiError::NotFound("grant"))?;
            let catalog = catalogs::find_catalog(conn, &grant.catalog_id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            let losses = deal_rows::backing_losses_of(conn, &grant.id)?
                .into_iter()
                .map(|l| {
                    Ok(BackingLossView {
                        cause: stored("backing_losses.cause", &l.cause)?,
                        sample_isrcs: stored_json("backing_losses.sample_isrcs", &l.sample_isrcs)?,
                        id: l.id,
                        upstream_grant_id: l.upstream_grant_id,
                        catalog_id: l.catalog_id,
                        track_count: l.track_count,
                        lost_from: l.lost_from,
                        detail: l.detail,
                        created_at: l.created_at.and_utc(),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            Ok::<_, ApiError>(BackingView {
                grant_id: grant.id,
                upstream_grant_id: catalog.backing_grant_id,
                status: if losses.is_empty() { "intact" } else { "lost" }.into(),
                losses,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Where an organization already holds recordings of an offered slice.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverlapView {
    pub offer_id: String,
    /// Recordings in the offered slice.
    pub track_count: u64,
    /// Offered recordings the caller already holds in at least one of its
    /// catalogs or received grants whose period meets the offer's.
    pub held_track_count: u64,
    /// Per territory of the offer: offered recordings the caller already holds there.
    pub by_territory: Vec<TerritoryOverlap>,
    /// Each catalog or received grant holding some of them.
    pub sources: Vec<OverlapSource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TerritoryOverlap {
    pub territory: String,
    pub held_track_count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverlapSource {
    /// `catalog` (a self-declared holding) or `received_grant`.
    pub kind: String,
    pub id: String,
    pub track_count: u64,
    #[schema(value_type = Vec<String>)]
    pub territories: Territories,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// How many of an offer's recordings the caller already holds, by territory
/// ("you already hold 412,000 of these in JP"), from its own catalogs and the
/// grants it received. Any organization that can see the offer.
#[utoipa::path(tag = "rights", security(("bearer" = [])), responses(
    (status = 200, body = OverlapView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}/overlap")]
pub async fn offer_overlap(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let offer = crate::db::marketplace::find_viewable_offer(conn, &org, &id)?
                .ok_or(ApiError::NotFound("offer"))?;
            let slice =
                catalogs::find_slice(conn, &offer.slice_id)?.ok_or(ApiError::NotFound("offer"))?;
            let offered = slice.recording_set()?;
            let asked: Territories = stored_json("offers.territories", &offer.territories)?;
            let term = Period::new(offer.start_date, offer.end_date)
                .map_err(|e| DbError::Corrupt(format!("offer period: {e}")))?;
            let mut sources = Vec::new();
            let mut listed = Vec::new();
            for (catalog, bytes) in catalogs::catalogs_with_recordings(conn, &org)? {
                // A received catalog's rights are its grant's, counted below.
                let period = Period::new(catalog.holding_start, catalog.holding_end)
                    .map_err(|e| DbError::Corrupt(format!("catalog holding: {e}")))?;
                if catalog.backing_grant_id.is_some() || !period.overlaps(&term) {
                    continue;
                }
                let held = catalogs::decode_recordings(bytes.as_deref(), "catalog", &catalog.id)?;
                let territories: Territories =
                    stored_json("catalogs.territories", &catalog.territories)?;
                let shared = offered.intersection_len(&held);
                if shared > 0 {
                    listed.push(OverlapSource {
                        kind: "catalog".into(),
                        id: catalog.id.clone(),
                        track_count: shared,
                        territories: territories.clone(),
                        start_date: period.start,
                        end_date: period.end,
                    });
                    sources.push((territories, held));
                }
            }
            for (grant, bytes) in deal_rows::received_grants(conn, &org)? {
                let period = Period::new(grant.start_date, grant.end_date)
                    .map_err(|e| DbError::Corrupt(format!("grant period: {e}")))?;
                if !period.overlaps(&term) {
                    continue;
                }
                let held = catalogs::decode_recordings(bytes.as_deref(), "grant", &grant.id)?;
                let territories: Territories =
                    stored_json("grants.territories", &grant.territories)?;
                let shared = offered.intersection_len(&held);
                if shared > 0 {
                    listed.push(OverlapSource {
                        kind: "received_grant".into(),
                        id: grant.id.clone(),
                        track_count: shared,
                        territories: territories.clone(),
                        start_date: period.start,
                        end_date: period.end,
                    });
                    sources.push((territories, held));
                }
            }
            let (held_track_count, by) =
                crate::domain::grant::held_overlap(&offered, &asked, &sources);
            Ok::<_, ApiError>(OverlapView {
                offer_id: offer.id,
                track_count: offered.len(),
                held_track_count,
                by_territory: by
                    .into_iter()
                    .map(|(territory, held_track_count)| TerritoryOverlap {
                        territory,
                        held_track_count,
                    })
                    .collect(),
                sources: listed,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(offer_overlap);
    cfg.service(get_holding)
        .service(put_holding)
        .service(post_override)
        .service(delete_override)
        .service(holding_history)
        .service(delivered_isrcs)
        .service(receive_grant)
        .service(grant_backing);
}
