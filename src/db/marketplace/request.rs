//! Requests in storage, and the tracks a request asks for in one catalog.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::*;

// ---- requests --------------------------------------------------------------------

pub fn insert_request(
    conn: &mut DbConnection,
    request: &MarketRequest,
    targets: &[String],
) -> Result<(), DbError> {
    diesel::insert_into(requests::table)
        .values(request)
        .execute(conn)?;
    for target in targets {
        diesel::insert_into(request_targets::table)
            .values((
                request_targets::request_id.eq(&request.id),
                request_targets::organization_id.eq(target),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_request(conn: &mut DbConnection, id: &str) -> Result<Option<MarketRequest>, DbError> {
    Ok(requests::table
        .find(id)
        .select(MarketRequest::as_select())
        .first(conn)
        .optional()?)
}

/// The request if it is open and `viewer_org` may see it (public, targeted at it, or its own).
pub fn find_visible_request(
    conn: &mut DbConnection,
    viewer_org: &str,
    request_id: &str,
) -> Result<Option<MarketRequest>, DbError> {
    Ok(requests::table
        .filter(requests::id.eq(request_id))
        .filter(request_visible_to(viewer_org, crate::db::now()))
        .select(MarketRequest::as_select())
        .first(conn)
        .optional()?)
}

/// The licensee sees its request in any state; others only while open and meant for them.
pub fn find_viewable_request(
    conn: &mut DbConnection,
    viewer_org: &str,
    request_id: &str,
) -> Result<Option<MarketRequest>, DbError> {
    match find_request(conn, request_id)? {
        Some(request) if request.organization_id == viewer_org => Ok(Some(request)),
        Some(_) => find_visible_request(conn, viewer_org, request_id),
        None => Ok(None),
    }
}

pub fn request_targets(conn: &mut DbConnection, request_id: &str) -> Result<Vec<String>, DbError> {
    Ok(request_targets::table
        .filter(request_targets::request_id.eq(request_id))
        .order(request_targets::organization_id.asc())
        .select(request_targets::organization_id)
        .load(conn)?)
}

/// Requests newest first by id: the caller's own (any state) when `mine`, else
/// every open request visible to it.
pub fn list_requests(
    conn: &mut DbConnection,
    viewer_org: &str,
    mine: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MarketRequest>, DbError> {
    let mut query = requests::table
        .order(requests::id.desc())
        .limit(limit)
        .select(MarketRequest::as_select())
        .into_boxed();
    query = if mine {
        query.filter(requests::organization_id.eq(viewer_org.to_string()))
    } else {
        query.filter(request_visible_to(viewer_org, crate::db::now()))
    };
    if let Some(after) = after {
        query = query.filter(requests::id.lt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Every open request visible to the viewer (for matching an offer).
pub fn open_visible_requests(
    conn: &mut DbConnection,
    viewer_org: &str,
) -> Result<Vec<MarketRequest>, DbError> {
    Ok(requests::table
        .filter(request_visible_to(viewer_org, crate::db::now()))
        .order(requests::id.asc())
        .select(MarketRequest::as_select())
        .load(conn)?)
}

/// See [`transition_offer`].
pub fn transition_request(
    conn: &mut DbConnection,
    id: &str,
    from: &[RequestState],
    to: RequestState,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let changed = diesel::update(
        requests::table
            .find(id)
            .filter(requests::status.eq_any(from)),
    )
    .set((
        requests::status.eq(to.as_str()),
        requests::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

// ---- matching --------------------------------------------------------------------

/// The tracks a request asks for, resolved in one catalog: its ISRCs looked up
/// by the (catalog_no, isrc_key) index, or its selector evaluated on the postings.
pub fn requested_tracks(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    request: &MarketRequest,
    catalog_no: i64,
) -> Result<TrackSet, DbError> {
    if let Some(isrcs) = &request.isrcs {
        let isrcs: Vec<String> = serde_json::from_str(isrcs)
            .map_err(|e| DbError::Corrupt(format!("request isrcs: {e}")))?;
        let keys: Vec<i64> = isrcs
            .iter()
            .map(|s| crate::db::stored::<Isrc>("requests.isrcs", s).map(|isrc| isrc.key()))
            .collect::<Result<_, _>>()?;
        let mut set = TrackSet::new();
        for (_, id) in catalogs::track_ids_for_isrc_keys(conn, catalog_no, &keys)? {
            if let Ok(id) = u32::try_from(id) {
                set.insert(id);
            }
        }
        return Ok(set);
    }
    let stored_selector = request.selector.as_deref().ok_or_else(|| {
        DbError::Corrupt(format!(
            "request {} has neither selector nor isrcs",
            request.id
        ))
    })?;
    let selector: Selector = serde_json::from_str(stored_selector)
        .map_err(|e| DbError::Corrupt(format!("request selector: {e}")))?;
    let selector = selector
        .validate()
        .map_err(|e| DbError::Corrupt(format!("request selector: {e}")))?;
    let index = catalogs::load_selector_index(conn, postings, catalog_no, &selector)?;
    Ok(evaluate(&selector, &index).tracks)
}

/// Closes an open request answered by a deal that just executed. Returns whether
/// it was open (a withdrawn or expired request stays as it is).
pub fn close_request(
    conn: &mut DbConnection,
    request_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let closed = diesel::update(
        requests::table
            .filter(requests::id.eq(request_id))
            .filter(requests::status.eq(RequestState::Open.as_str())),
    )
    .set((
        requests::status.eq(RequestState::Closed.as_str()),
        requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(closed > 0)
}
