//! The parts of the marketplace that are neither an offer nor a request: "who
//! offers this recording?", the organization directory, and the input pieces
//! offers and requests share (audience, expiry).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::{Caller, Claimed};
use super::listings::{offer_views, OfferView};
use super::pagination::{decode_cursor, encode_cursor, Page};
use super::problem::{ApiError, Problem};
use super::read_cache::{self, View};
use super::state::AppState;
use crate::db::marketplace;
use crate::domain::isrc::Isrc;
use crate::domain::listing::{Audience, Visibility};
use crate::domain::ValidationErrors;
use crate::marketplace::{MarketError, Match};

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> Self {
        match e {
            MarketError::Validation(v) => ApiError::Validation(v),
            MarketError::MarketRules { errors, breaches } => {
                ApiError::MarketRules { errors, breaches }
            }
            MarketError::NotFound(what) => ApiError::NotFound(what),
            MarketError::NotAllowed {
                detail,
                state,
                allowed_actions,
            } => ApiError::Conflict {
                detail,
                extensions: Some(serde_json::Map::from_iter([
                    ("state".to_string(), serde_json::json!(state)),
                    (
                        "allowed_actions".to_string(),
                        serde_json::json!(allowed_actions),
                    ),
                ])),
            },
            MarketError::Conflict(detail) => ApiError::conflict(detail),
            MarketError::Database(db) => ApiError::Database(db),
            MarketError::Internal(message) => ApiError::Internal(message),
        }
    }
}

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

impl AudienceInput {
    /// Checks the shape; the targets' existence is checked by
    /// `crate::marketplace::check_targets`.
    pub fn parse(&self, own_org: &str) -> Result<Audience, ValidationErrors> {
        match self {
            AudienceInput::Keyword(k) if k == Visibility::Public.as_str() => Ok(Audience {
                visibility: Visibility::Public,
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
                    visibility: Visibility::Targeted,
                    targets,
                })
            }
        }
    }

    /// The organization ids as given (none for a keyword).
    pub fn targets(&self) -> &[String] {
        match self {
            AudienceInput::Keyword(_) => &[],
            AudienceInput::Organizations(ids) => ids,
        }
    }
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
    claimed: Claimed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let isrc = Isrc::parse(&path.into_inner())
        .map_err(|e| ValidationErrors::single("isrc", e.to_string()))?;
    let request = isrc.to_string();
    read_cache::market_answer(
        &state,
        View::OffersOfTrack,
        claimed,
        request,
        move |conn, viewer| {
            let holding = crate::marketplace::offers::holding_track(conn, viewer, &isrc)?;
            // Bounded by the number of offers of one recording: one page.
            Ok(Page {
                items: offer_views(conn, viewer, holding)?,
                next_cursor: None,
            })
        },
    )
    .await
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

/// The answer to a cursor this API did not hand out for this listing.
pub fn bad_cursor() -> ApiError {
    ApiError::BadRequest {
        detail: "is not a cursor returned by this API for this sort".into(),
        field: Some("cursor".into()),
    }
}

/// Sorts matches by covered tracks (most first) then id, and cuts the page after
/// the cursor `covered|id`.
pub fn page_of_matches<T>(
    mut matches: Vec<Match<T>>,
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
