//! Slices: subsets of one catalog, cut by a selector and materialized as a
//! Roaring bitmap of track ids ("1,500,000 of 15,000,000 tracks").

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::catalogs::TrackView;
use super::extract::ApiJson;
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use super::track_lists::{slice_track_page, TrackPageQuery, TrackPaging};
use crate::db::catalogs::{self, Slice};
use crate::db::{stored_json, DbError};
use crate::domain::account::parse_display_name;
use crate::domain::isrc::Isrc;
use crate::domain::role::Role;
use crate::domain::selector::{Selector, UnknownValue};
use crate::domain::ValidationErrors;

#[derive(Debug, Serialize, ToSchema)]
pub struct SliceView {
    pub id: String,
    pub catalog_id: String,
    pub name: String,
    pub selector: Selector,
    pub track_count: i64,
    pub catalog_track_count: i64,
    /// "1,500,000 of 15,000,000 tracks".
    pub summary: String,
    /// SHA-256 of the sorted track ids (see docs/domain.md); recorded in signed terms.
    pub content_hash: String,
    /// Size of the stored track set.
    pub size_bytes: usize,
    /// Set when the slice is used in a signed deal: its track set never changes again.
    pub frozen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<Slice> for SliceView {
    type Error = DbError;

    fn try_from(s: Slice) -> Result<Self, DbError> {
        Ok(Self {
            summary: format!(
                "{} of {} tracks",
                thousands(s.track_count),
                thousands(s.catalog_track_count)
            ),
            selector: stored_json("slices.selector", &s.selector)?,
            size_bytes: s.bitmap.len(),
            id: s.id,
            catalog_id: s.catalog_id,
            name: s.name,
            track_count: s.track_count,
            catalog_track_count: s.catalog_track_count,
            content_hash: s.content_hash,
            frozen_at: s.frozen_at.map(|t| t.and_utc()),
            created_at: s.created_at.and_utc(),
        })
    }
}

/// 1500000 → "1,500,000".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSliceView {
    #[serde(flatten)]
    pub slice: SliceView,
    /// Labels, artists or genres the selector names that the catalog does not have.
    pub unknown_values: Vec<UnknownValue>,
    /// Included ISRCs the catalog does not hold.
    pub unknown_isrcs: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSlice {
    pub name: String,
    pub selector: Selector,
}

/// Cut a slice from a catalog. Within an attribute values are OR-ed, across
/// attributes AND-ed; `include_isrcs` are added and `exclude_isrcs` removed last.
#[utoipa::path(tag = "slices", security(("bearer" = [])), request_body = CreateSlice, responses(
    (status = 201, body = CreatedSliceView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/catalogs/{id}/slices")]
pub async fn create_slice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<CreateSlice>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    let name = parse_display_name(&body.name)
        .map_err(|m| errors.push("name", m))
        .ok();
    let selector = body
        .selector
        .validate()
        .map_err(|e| errors.0.extend(e.nested("selector").0))
        .ok();
    let (Some(name), Some(selector)) = (name, selector) else {
        return Err(errors.into());
    };
    let author = caller.author();
    let catalog_id = path.into_inner();
    let postings = state.postings.clone();
    let (slice, result) = state
        .db
        .run(move |conn| {
            crate::catalogs::slices::create(conn, &postings, &author, &catalog_id, name, &selector)
        })
        .await?;
    let (unknown_values, unknown_isrcs) = (result.unknown_values, result.unknown_isrcs);
    Ok(HttpResponse::Created().json(CreatedSliceView {
        slice: SliceView::try_from(slice)?,
        unknown_values,
        unknown_isrcs: unknown_isrcs.into_iter().map(Isrc::into_string).collect(),
    }))
}

/// The slices cut from one of the caller's catalogs.
#[utoipa::path(tag = "slices", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<SliceView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/slices")]
pub async fn list_slices(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?;
    let org = caller.organization_id().to_string();
    let catalog_id = path.into_inner();
    let rows = state
        .db
        .run(move |conn| {
            catalogs::find_owned_catalog(conn, &org, &catalog_id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            Ok::<_, ApiError>(catalogs::list_slices(
                conn,
                &org,
                &catalog_id,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::try_from_rows(
        rows,
        limit,
        |s| s.id.clone(),
        SliceView::try_from,
    )?))
}

async fn owned_slice(state: &AppState, caller: &Caller, id: String) -> Result<Slice, ApiError> {
    let org = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| catalogs::find_owned_slice(conn, &org, &id))
        .await?
        .ok_or(ApiError::NotFound("slice"))
}

/// One of the caller's slices: "N of M tracks", its selector and content hash.
#[utoipa::path(tag = "slices", security(("bearer" = [])), responses(
    (status = 200, body = SliceView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/slices/{id}")]
pub async fn get_slice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slice = owned_slice(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SliceView::try_from(slice)?))
}

/// A slice's tracks in track order, cursor-paginated.
#[utoipa::path(tag = "slices", security(("bearer" = [])), params(TrackPageQuery), responses(
    (status = 200, body = Page<TrackView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/slices/{id}/tracks")]
pub async fn slice_tracks(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = TrackPaging::parse(&page)?;
    let slice = owned_slice(&state, &caller, path.into_inner()).await?;
    let page = state
        .db
        .run(move |conn| slice_track_page(conn, &slice, paging))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Whether a recording is in the slice: 200 with the track, or 404.
#[utoipa::path(tag = "slices", security(("bearer" = [])), responses(
    (status = 200, body = TrackView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/slices/{id}/tracks/{isrc}")]
pub async fn slice_track(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, isrc) = path.into_inner();
    let isrc = Isrc::parse(&isrc).map_err(|e| ValidationErrors::single("isrc", e.to_string()))?;
    let slice = owned_slice(&state, &caller, id).await?;
    let row = state
        .db
        .run(move |conn| {
            let catalog = catalogs::find_catalog(conn, &slice.catalog_id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            let Some(row) = catalogs::track_by_isrc_key(conn, catalog.no, isrc.key())? else {
                return Ok(None);
            };
            let set = catalogs::decode_set(&slice.bitmap)?;
            Ok::<_, ApiError>(set.contains(row.track_id as u32).then_some(row))
        })
        .await?
        .ok_or(ApiError::NotFound("track in this slice"))?;
    Ok(HttpResponse::Ok().json(TrackView::try_from(row)?))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_slice)
        .service(list_slices)
        .service(get_slice)
        .service(slice_tracks)
        .service(slice_track);
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_500_000), "1,500,000");
        assert_eq!(super::thousands(15_000_000), "15,000,000");
    }
}
