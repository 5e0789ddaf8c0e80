//! Pages of a stored track set — a slice, a grant, what is still available — read the
//! same way wherever they are listed: `?limit=N&cursor=C` as in `GET /slices/{id}/tracks`,
//! ids found by seeking in the Roaring bitmap (never a scan), only the page's rows read,
//! answered as a `Page<TrackView>`. Who may read which set is decided by each handler
//! (the slice's owner, an offer's audience, a deal's or grant's parties); the CSV form of
//! the same lists is `csv_export::tracks_csv`.

use actix_web::HttpResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::catalogs::{track_cursor, TrackView};
use super::csv_export::{tracks_csv, TRACK_COLUMNS};
use super::state::AppState;

use super::pagination::{checked_limit, encode_cursor, Page};
use super::problem::ApiError;
use crate::db::catalogs::{self, Slice};
use crate::db::DbConnection;
use crate::domain::trackset::TrackSet;

/// Where a page of a track set starts and how many tracks it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackPaging {
    /// The last track id of the previous page.
    pub after: Option<u32>,
    pub limit: usize,
}

/// Most tracks one page of a track list holds: more than other lists' 500, since
/// licensees read whole slices of millions of tracks page by page.
pub const MAX_TRACKS_PER_PAGE: u32 = 1_000;

/// The query of a track list: `limit` and `cursor`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrackPageQuery {
    /// Tracks per page, 1 to 1,000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl TrackPaging {
    /// `limit` 1–1,000 (default 50; 400 on `limit` otherwise) and a cursor this API
    /// wrote (400 on `cursor` otherwise).
    pub fn parse(page: &TrackPageQuery) -> Result<Self, ApiError> {
        let limit = checked_limit(page.limit, MAX_TRACKS_PER_PAGE)?;
        Ok(Self {
            limit: limit as usize,
            after: track_cursor(page.cursor.as_deref())?,
        })
    }
}

/// One page of `set` (track ids of the catalog numbered `catalog_no`), in track order.
/// `next_cursor` holds the page's last id, and is null on the last page.
pub fn track_page(
    conn: &mut DbConnection,
    catalog_no: i64,
    set: &TrackSet,
    paging: TrackPaging,
) -> Result<Page<TrackView>, ApiError> {
    let mut ids = set.page_after(paging.after, paging.limit + 1);
    let more = ids.len() > paging.limit;
    ids.truncate(paging.limit);
    let rows = catalogs::tracks_by_ids(conn, catalog_no, &ids)?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(TrackView::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: ids
            .last()
            .filter(|_| more)
            .map(|id| encode_cursor(&id.to_string())),
    })
}

/// A slice's track set, with the number of the catalog its ids belong to.
pub fn slice_track_set(
    conn: &mut DbConnection,
    slice: &Slice,
) -> Result<(i64, TrackSet), ApiError> {
    let catalog =
        catalogs::find_catalog(conn, &slice.catalog_id)?.ok_or(ApiError::NotFound("catalog"))?;
    Ok((catalog.no, catalogs::decode_set(&slice.bitmap)?))
}

/// One page of a slice's tracks: what `GET /slices/{id}/tracks` answers its owner, and
/// `GET /offers/{id}/tracks` and `GET /deals/{id}/tracks` answer the other side.
pub fn slice_track_page(
    conn: &mut DbConnection,
    slice: &Slice,
    paging: TrackPaging,
) -> Result<Page<TrackView>, ApiError> {
    let (catalog_no, set) = slice_track_set(conn, slice)?;
    track_page(conn, catalog_no, &set, paging)
}

/// Every track of the slice `find` returns — `find` decides who may read it, answering
/// 404 otherwise — as a streamed CSV download named `filename` (offers and deals, in the
/// API and the web app alike).
pub async fn slice_csv<F>(
    state: &AppState,
    filename: String,
    find: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<Slice, ApiError> + Send + 'static,
{
    let (catalog_no, set) = state
        .db
        .run(move |conn| {
            let slice = find(conn)?;
            slice_track_set(conn, &slice)
        })
        .await?;
    Ok(tracks_csv(
        state.db.clone(),
        catalog_no,
        set,
        TRACK_COLUMNS,
        &filename,
    ))
}
