//! Catalogs: holdings, imports, tracks, and the slices cut from them. All of it
//! is private to the owning organization (offers expose slices to others).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::ApiJson;
use super::pagination::{decode_cursor, encode_cursor, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::catalogs::{self, Catalog, TrackRow};
use crate::db::{stored_json, DbError};
use crate::domain::account::parse_display_name;
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::selector::{fold_key, AttributeKind, PostingRange};
use crate::domain::territory::Territories;
use crate::domain::trackset::TrackSet;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;
use crate::import::{self, ImportError, ImportFormat, ImportReport};

// ---- views ---------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogView {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub territories: serde_json::Value,
    #[schema(value_type = Vec<String>)]
    pub usages: serde_json::Value,
    pub holding_start: NaiveDate,
    pub holding_end: NaiveDate,
    pub sublicensable: bool,
    pub track_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For a catalog received through a grant: that grant (its holding).
    pub backing_grant_id: Option<String>,
}

impl TryFrom<Catalog> for CatalogView {
    type Error = DbError;
    fn try_from(c: Catalog) -> Result<Self, DbError> {
        Ok(Self {
            territories: stored_json("catalogs.territories", &c.territories)?,
            usages: stored_json("catalogs.usages", &c.usages)?,
            id: c.id,
            name: c.name,
            holding_start: c.holding_start,
            holding_end: c.holding_end,
            sublicensable: c.sublicensable,
            track_count: c.track_count,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
            backing_grant_id: c.backing_grant_id,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackView {
    pub isrc: String,
    pub title: String,
    pub artists: Vec<String>,
    pub label: String,
    pub genre: String,
    pub release_date: NaiveDate,
    pub duration_ms: i32,
    pub iswc: Option<String>,
}

/// A stored ISRC key that does not decode is corrupt data, never an empty ISRC.
pub fn stored_isrc(key: i64) -> Result<Isrc, DbError> {
    Isrc::from_key(key).ok_or_else(|| DbError::Corrupt(format!("tracks.isrc_key: {key}")))
}

impl TryFrom<TrackRow> for TrackView {
    type Error = DbError;

    fn try_from(t: TrackRow) -> Result<Self, DbError> {
        Ok(Self {
            isrc: stored_isrc(t.isrc_key)?.into_string(),
            title: t.title,
            artists: t.artists.split(';').map(str::to_string).collect(),
            label: t.label,
            genre: t.genre,
            release_date: t.release_date,
            duration_ms: t.duration_ms,
            iswc: t.iswc,
        })
    }
}

// ---- catalogs --------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCatalog {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes, or `["worldwide"]`.
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub holding_start: NaiveDate,
    pub holding_end: NaiveDate,
    /// Whether the organization may sublicense these rights.
    pub sublicensable: bool,
}

/// Register a catalog and the rights the organization holds in it.
#[utoipa::path(tag = "catalogs", security(("bearer" = [])), request_body = CreateCatalog, responses(
    (status = 201, body = CatalogView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/catalogs")]
pub async fn create_catalog(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateCatalog>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    let name = parse_display_name(&body.name)
        .map_err(|m| errors.push("name", m))
        .ok();
    let territories = Territories::parse_list_at("territories", &body.territories)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let usages = Usages::parse_list_at("usages", &body.usages)
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let period = Period::validate(body.holding_start, body.holding_end, "holding_end")
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let (Some(name), Some(territories), Some(usages), Some(period)) =
        (name, territories, usages, period)
    else {
        return Err(errors.into());
    };
    let catalog = state
        .db
        .run(move |conn| {
            crate::catalogs::create(
                conn,
                &caller.author(),
                name,
                &territories,
                &usages,
                period,
                body.sublicensable,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(CatalogView::try_from(catalog)?))
}

/// The caller's catalogs.
#[utoipa::path(tag = "catalogs", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Page<CatalogView>)))]
#[get("/catalogs")]
pub async fn list_catalogs(
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
            catalogs::list_catalogs(conn, &org, after.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    let views = rows
        .into_iter()
        .map(CatalogView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.clone(), |c| c)))
}

pub(crate) async fn owned_catalog(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<Catalog, ApiError> {
    let org = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| catalogs::find_owned_catalog(conn, &org, &id))
        .await?
        .ok_or(ApiError::NotFound("catalog"))
}

/// One of the caller's catalogs.
#[utoipa::path(tag = "catalogs", security(("bearer" = [])), responses(
    (status = 200, body = CatalogView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}")]
pub async fn get_catalog(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let catalog = owned_catalog(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CatalogView::try_from(catalog)?))
}

impl From<crate::catalogs::CatalogError> for ApiError {
    fn from(e: crate::catalogs::CatalogError) -> Self {
        match e {
            crate::catalogs::CatalogError::NotFound(what) => ApiError::NotFound(what),
            crate::catalogs::CatalogError::Database(db) => ApiError::Database(db),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::File { field, message } => {
                ApiError::Validation(ValidationErrors::single(field, message))
            }
            ImportError::Read(detail) => ApiError::bad_request(detail),
            ImportError::CatalogFull(_) | ImportError::Received(_) => {
                ApiError::conflict(e.to_string())
            }
            ImportError::Database(db) => ApiError::Database(db),
            ImportError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

/// Feeds the HTTP body to the blocking import as it arrives, through a bounded
/// channel: memory stays bounded whatever the upload's size.
pub(crate) struct ChannelReader {
    chunks: tokio::sync::mpsc::Receiver<Result<web::Bytes, String>>,
    current: web::Bytes,
}

/// A reader of the request body for blocking code, and the future that feeds it:
/// run both together (`futures_util::join!`).
pub(crate) fn streamed_body(
    payload: web::Payload,
) -> (ChannelReader, impl std::future::Future<Output = ()>) {
    streamed(payload)
}

/// [`streamed_body`] for any stream of chunks (the web app's upload is one part of a
/// multipart form).
pub(crate) fn streamed<S, E>(
    mut payload: S,
) -> (ChannelReader, impl std::future::Future<Output = ()>)
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, String>>(32);
    let reader = ChannelReader {
        chunks: rx,
        current: web::Bytes::new(),
    };
    let feeding = async move {
        while let Some(chunk) = payload.next().await {
            let item = chunk.map_err(|e| e.to_string());
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    (reader, feeding)
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Import tracks, streamed: `text/csv` with header
/// `isrc,title,artists,label,genre,release_date,duration_ms[,iswc]` (artists separated by
/// `;`), or `application/x-ndjson`. Valid rows are imported, invalid ones reported by
/// line; ISRCs already in the catalog are skipped (re-running a file changes nothing).
/// A wrong header or a broken upload imports nothing. A DDEX ERN message
/// (`application/xml`) or a tar (optionally gzipped) of them (`application/x-tar`,
/// `application/gzip`) imports the audio recordings and turns the deals into
/// per-recording holdings (signer role; see `docs/ddex.md`); problems are reported
/// by message, line and element path.
#[utoipa::path(tag = "catalogs", security(("bearer" = [])),
    request_body(description = "CSV or NDJSON rows", content(
        (String = "text/csv"),
        (String = "application/x-ndjson"),
        (String = "application/ndjson"),
        (String = "application/jsonl"),
        (String = "application/xml"),
        (String = "text/xml"),
        (String = "application/x-tar"),
        (String = "application/gzip"),
    )),
    responses(
        (status = 200, body = ImportReport),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The catalog would pass 2,147,483,647 tracks", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unusable file (e.g. wrong header); nothing imported", body = Problem, content_type = "application/problem+json"),
))]
#[post("/catalogs/{id}/imports")]
pub async fn import_tracks(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Negotiator)?;
    let format = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(ImportFormat::from_content_type)
        .ok_or(ApiError::UnsupportedMediaType {
            expected: "text/csv, application/x-ndjson, application/xml (one DDEX ERN message) or application/x-tar (a batch of them)",
        })?;
    if format.is_ern() {
        // ERN deals set holdings, which only signers may change.
        caller.require(Role::Signer)?;
    }
    let catalog = owned_catalog(&state, &caller, path.into_inner()).await?;
    let catalog_no = catalog.no;
    let (body, feeding) = streamed_body(payload);
    let user_id = caller.user_id().to_string();
    let today = Utc::now().date_naive();
    let importing = state.db.run(move |conn| {
        let reader = std::io::BufReader::with_capacity(1 << 16, body);
        import::import_tracks(
            conn,
            &catalog,
            Some(&user_id),
            reader,
            format,
            today,
            &mut (),
        )
    });
    let (report, ()) = futures_util::join!(importing, feeding);
    let report: ImportReport = report?;
    if report.imported > 0 {
        // The postings changed: have this node's cache hold the new ones.
        actix_web::rt::spawn(crate::catalogs::warm_postings(
            state.db.clone(),
            state.postings.clone(),
            Some(catalog_no),
        ));
    }
    Ok(HttpResponse::Ok().json(report))
}

// ---- tracks ------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrackQuery {
    /// Exact ISRC (hyphens allowed).
    pub isrc: Option<String>,
    pub label: Option<String>,
    pub artist: Option<String>,
    pub genre: Option<String>,
    /// Words the title contains.
    pub q: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// How many candidate ids one page request examines at most when a title search is
/// combined with attribute filters; the cursor continues from there.
const MAX_SCAN_PER_PAGE: usize = 20_000;

/// A catalog's tracks in import order, filtered. Label, artist and genre filters use
/// the catalog's attribute index (milliseconds at 15M tracks); `q` scans titles.
#[utoipa::path(tag = "catalogs", security(("bearer" = [])), params(TrackQuery), responses(
    (status = 200, body = Page<TrackView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`isrc` is not a valid ISRC", body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalogs/{id}/tracks")]
pub async fn list_tracks(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()? as usize;
    let after = page
        .after()?
        .map(|c| c.parse::<u32>())
        .transpose()
        .map_err(|_| ApiError::BadRequest {
            detail: "is not a cursor returned by this API".into(),
            field: Some("cursor".into()),
        })?;
    let isrc = query
        .isrc
        .as_deref()
        .map(Isrc::parse)
        .transpose()
        .map_err(|e| ApiError::Validation(ValidationErrors::single("isrc", e.to_string())))?;
    let catalog = owned_catalog(&state, &caller, path.into_inner()).await?;
    let (rows, next) = state
        .db
        .run(
            move |conn| -> Result<(Vec<TrackRow>, Option<u32>), DbError> {
                if let Some(isrc) = isrc {
                    let row = catalogs::track_by_isrc_key(conn, catalog.no, isrc.key())?;
                    return Ok((row.into_iter().collect(), None));
                }
                let filters: Vec<PostingRange> = [
                    (AttributeKind::Label, &query.label),
                    (AttributeKind::Artist, &query.artist),
                    (AttributeKind::Genre, &query.genre),
                ]
                .into_iter()
                .filter_map(|(kind, value)| {
                    value
                        .as_deref()
                        .map(|v| PostingRange::exact(kind, &fold_key(v)))
                })
                .collect();
                let words = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
                if filters.is_empty() {
                    let rows = match words {
                        Some(words) => catalogs::search_titles(
                            conn,
                            catalog.no,
                            words,
                            after,
                            limit as i64 + 1,
                        )?,
                        None => {
                            let all = catalogs::catalog_tracks(conn, catalog.no)?;
                            catalogs::tracks_by_ids(
                                conn,
                                catalog.no,
                                &all.page_after(after, limit + 1),
                            )?
                        }
                    };
                    return Ok(page_of_rows(rows, limit));
                }
                // Intersect the filters' postings; a missing posting means no match.
                let mut candidates: Option<TrackSet> = None;
                for range in &filters {
                    let set = match catalogs::load_postings(
                        conn,
                        catalog.no,
                        std::slice::from_ref(range),
                    )?
                    .first()
                    {
                        Some(row) => catalogs::decode_set(&row.bitmap)?,
                        None => TrackSet::new(),
                    };
                    candidates = Some(match candidates {
                        Some(c) => c.intersection(&set),
                        None => set,
                    });
                }
                let candidates = candidates.unwrap_or_default();
                let Some(words) = words.map(str::to_lowercase) else {
                    let rows = catalogs::tracks_by_ids(
                        conn,
                        catalog.no,
                        &candidates.page_after(after, limit + 1),
                    )?;
                    return Ok(page_of_rows(rows, limit));
                };
                // Title words within the filtered set: scan candidates in id order, bounded.
                let mut found = Vec::new();
                let mut cursor = after;
                let mut scanned = 0;
                while found.len() < limit && scanned < MAX_SCAN_PER_PAGE {
                    let ids = candidates.page_after(cursor, 1_000);
                    let Some(&last) = ids.last() else {
                        return Ok((found, None));
                    };
                    scanned += ids.len();
                    for row in catalogs::tracks_by_ids(conn, catalog.no, &ids)? {
                        if row.title.to_lowercase().contains(&words) && found.len() < limit {
                            cursor = Some(row.track_id as u32);
                            found.push(row);
                        }
                    }
                    if found.len() < limit {
                        cursor = Some(last);
                    }
                }
                let more = !candidates.page_after(cursor, 1).is_empty();
                Ok((found, if more { cursor } else { None }))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: rows
            .into_iter()
            .map(TrackView::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: next.map(|id| encode_cursor(&id.to_string())),
    }))
}

/// Up to `limit + 1` rows in id order → the page and the id to continue after.
fn page_of_rows(mut rows: Vec<TrackRow>, limit: usize) -> (Vec<TrackRow>, Option<u32>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| r.track_id as u32)
    } else {
        None
    };
    (rows, next)
}

/// A cursor from [`list_tracks`] back to the id it encodes (slices use the same cursors).
pub fn track_cursor(cursor: Option<&str>) -> Result<Option<u32>, ApiError> {
    cursor
        .map(|c| {
            decode_cursor(c).and_then(|s| {
                s.parse::<u32>()
                    .map_err(|_| ApiError::bad_request("invalid cursor"))
            })
        })
        .transpose()
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_catalog)
        .service(list_catalogs)
        .service(get_catalog)
        .service(import_tracks)
        .service(list_tracks);
}
