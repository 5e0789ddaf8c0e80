//! The parts of the marketplace that are neither an offer nor a request: "who
//! offers this recording?", the organization directory, and the input pieces
//! offers and requests share (audience, expiry).

use std::collections::HashMap;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::offers::{offer_views, OfferView};
use super::pagination::{decode_cursor, encode_cursor, Page};
use super::problem::{ApiError, Problem};
use crate::app::AppState;
use crate::db::marketplace::{self, Offer, VISIBILITY_PUBLIC, VISIBILITY_TARGETED};
use crate::db::{catalogs, DbConnection};
use crate::domain::isrc::Isrc;
use crate::domain::ValidationErrors;

/// Most organizations one listing may be targeted at.
pub const MAX_TARGETS: usize = 100;

/// Who may see a listing: `"public"` (every organization), or a list of
/// organization ids (only those, and the author).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AudienceInput {
    /// `"public"`.
    Keyword(String),
    /// Organization ids.
    Organizations(Vec<String>),
}

/// A validated audience: the stored visibility and the target organizations.
#[derive(Debug, Clone)]
pub struct Audience {
    pub visibility: &'static str,
    pub targets: Vec<String>,
}

impl AudienceInput {
    /// Checks the shape; the targets' existence is checked by [`check_targets`].
    pub fn parse(&self, own_org: &str) -> Result<Audience, ValidationErrors> {
        match self {
            AudienceInput::Keyword(k) if k == VISIBILITY_PUBLIC => Ok(Audience {
                visibility: VISIBILITY_PUBLIC,
                targets: Vec::new(),
            }),
            AudienceInput::Keyword(other) => Err(ValidationErrors::single(
                "visibility",
                format!("must be \"public\" or a list of organization ids (got `{other}`)"),
            )),
            AudienceInput::Organizations(ids) => {
                let mut errors = ValidationErrors::new();
                if ids.is_empty() {
                    errors.push(
                        "visibility",
                        "a targeted listing needs at least one organization",
                    );
                }
                if ids.len() > MAX_TARGETS {
                    errors.push(
                        "visibility",
                        format!("at most {MAX_TARGETS} organizations may be targeted"),
                    );
                }
                let mut targets: Vec<String> = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    if id == own_org {
                        errors.push(
                            format!("visibility[{i}]"),
                            "is your own organization, which always sees its listings",
                        );
                    } else if !targets.contains(id) {
                        targets.push(id.clone());
                    }
                }
                errors.into_result()?;
                Ok(Audience {
                    visibility: VISIBILITY_TARGETED,
                    targets,
                })
            }
        }
    }
}

/// Every target must be an existing organization (field `visibility[i]`).
pub fn check_targets(
    conn: &mut DbConnection,
    input: &AudienceInput,
    audience: &Audience,
) -> Result<(), ApiError> {
    let AudienceInput::Organizations(ids) = input else {
        return Ok(());
    };
    let targets: Vec<&str> = audience.targets.iter().map(String::as_str).collect();
    let known = marketplace::organization_names(conn, &targets)?;
    let mut errors = ValidationErrors::new();
    for (i, id) in ids.iter().enumerate() {
        if !known.contains_key(id) && audience.targets.contains(id) {
            errors.push(format!("visibility[{i}]"), "no organization has this id");
        }
    }
    Ok(errors.into_result()?)
}

/// A listing's expiry: an RFC 3339 instant in the future.
pub fn parse_expiry(
    input: &str,
    now: DateTime<Utc>,
    errors: &mut ValidationErrors,
) -> Option<NaiveDateTime> {
    match DateTime::parse_from_rfc3339(input) {
        Ok(at) if at.with_timezone(&Utc) > now => Some(at.with_timezone(&Utc).naive_utc()),
        Ok(_) => {
            errors.push("expires_at", "must be in the future");
            None
        }
        Err(_) => {
            errors.push(
                "expires_at",
                format!("must be an RFC 3339 instant such as 2027-01-01T00:00:00Z (got `{input}`)"),
            );
            None
        }
    }
}

/// An organization as listings name it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: String,
    pub name: String,
}

// ---- who offers this recording ------------------------------------------------------

/// Every open offer visible to the caller whose slice contains this recording.
/// The ISRC is resolved in each offering catalog through its (catalog, ISRC)
/// index, then tested against each slice's bitmap: no scan of tracks.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), responses(
    (status = 200, body = Page<OfferView>),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/marketplace/tracks/{isrc}")]
pub async fn offers_of_track(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let isrc = Isrc::parse(&path.into_inner())
        .map_err(|e| ValidationErrors::single("isrc", e.to_string()))?;
    let viewer = caller.organization_id().to_string();
    let items = state
        .db
        .run(move |conn| {
            let open = marketplace::open_visible_offers(conn, &viewer)?;
            let mut by_catalog: HashMap<i64, Vec<&Offer>> = HashMap::new();
            for offer in &open {
                by_catalog.entry(offer.catalog_no).or_default().push(offer);
            }
            let mut holding = Vec::new();
            for (catalog_no, offers) in by_catalog {
                let Some(track) = catalogs::track_by_isrc_key(conn, catalog_no, isrc.key())? else {
                    continue;
                };
                let Ok(track_id) = u32::try_from(track.track_id) else {
                    continue;
                };
                let sets = marketplace::offer_slice_sets(conn, &offers)?;
                holding.extend(
                    offers
                        .into_iter()
                        .filter(|o| sets.get(&o.id).is_some_and(|s| s.contains(track_id)))
                        .cloned(),
                );
            }
            holding.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(b.id.cmp(&a.id)));
            Ok::<_, ApiError>(offer_views(conn, &viewer, holding)?)
        })
        .await?;
    // Bounded by the number of offers of one recording: one page.
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: None,
    }))
}

// ---- directory ----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    /// platform, label or publisher.
    pub kind: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Part of the name, case-insensitive.
    pub q: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The directory of organizations (id, name, kind), by name: to pick a
/// counterparty, a target for a listing, or the `licensor` filter.
#[utoipa::path(tag = "marketplace", security(("bearer" = [])), params(DirectoryQuery), responses(
    (status = 200, body = Page<OrganizationView>),
))]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = super::pagination::PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => {
            let decoded = decode_cursor(cursor)?;
            // The cursor is `name \u{1f} id`: names are ordered first, ids break ties.
            let (name, id) = decoded
                .split_once('\u{1f}')
                .ok_or_else(|| ApiError::BadRequest {
                    detail: "is not a cursor returned by this API".into(),
                    field: Some("cursor".into()),
                })?;
            Some((name.to_string(), id.to_string()))
        }
    };
    let q = query
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    let rows = state
        .db
        .run(move |conn| {
            marketplace::list_organizations(
                conn,
                q.as_deref(),
                after.as_ref().map(|(n, i)| (n.as_str(), i.as_str())),
                i64::from(limit) + 1,
            )
        })
        .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |(id, name, _)| format!("{name}\u{1f}{id}"),
        |(id, name, kind)| OrganizationView { id, name, kind },
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Encodes a cursor the way [`Page::from_rows`] does (for lists paginated by hand).
pub fn cursor_of(key: &str) -> String {
    encode_cursor(key)
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(offers_of_track).service(list_organizations);
}
