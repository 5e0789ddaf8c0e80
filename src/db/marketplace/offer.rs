//! Offers in storage: writing, finding, browsing with filters and facets.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::*;

// ---- offers ----------------------------------------------------------------------

/// Writes an offer with its targets and facet rows (inside the caller's transaction).
pub fn insert_offer(
    conn: &mut DbConnection,
    offer: &Offer,
    targets: &[String],
    facets: &[OfferFacet],
) -> Result<(), DbError> {
    crate::db::market_version::bump(conn)?;
    diesel::insert_into(offers::table)
        .values(offer)
        .execute(conn)?;
    for target in targets {
        diesel::insert_into(offer_targets::table)
            .values((
                offer_targets::offer_id.eq(&offer.id),
                offer_targets::organization_id.eq(target),
            ))
            .execute(conn)?;
    }
    for chunk in facets.chunks(1_000) {
        insert_batch!(conn, offer_facets::table, chunk)?;
    }
    Ok(())
}

/// Any offer, whatever its state and audience (for its owner's reads and updates).
pub fn find_offer(conn: &mut DbConnection, id: &str) -> Result<Option<Offer>, DbError> {
    Ok(offers::table
        .find(id)
        .select(Offer::as_select())
        .first(conn)
        .optional()?)
}

/// The offer if it is open and `viewer_org` may see it (public, targeted at it, or its own).
pub fn find_visible_offer(
    conn: &mut DbConnection,
    viewer_org: &str,
    offer_id: &str,
) -> Result<Option<Offer>, DbError> {
    Ok(offers::table
        .filter(offers::id.eq(offer_id))
        .filter(offer_visible_to(viewer_org, crate::db::now()))
        .select(Offer::as_select())
        .first(conn)
        .optional()?)
}

/// What `GET /offers/{id}` shows: the licensor sees its offer in any state;
/// everyone else only while it is open and meant for them.
pub fn find_viewable_offer(
    conn: &mut DbConnection,
    viewer_org: &str,
    offer_id: &str,
) -> Result<Option<Offer>, DbError> {
    match find_offer(conn, offer_id)? {
        Some(offer) if offer.organization_id == viewer_org => Ok(Some(offer)),
        Some(_) => find_visible_offer(conn, viewer_org, offer_id),
        None => Ok(None),
    }
}

pub fn offer_targets(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<String>, DbError> {
    Ok(offer_targets::table
        .filter(offer_targets::offer_id.eq(offer_id))
        .order(offer_targets::organization_id.asc())
        .select(offer_targets::organization_id)
        .load(conn)?)
}

/// Moves an offer from one of `from` to `to`; false when it was in no such state
/// (a concurrent change won), so the caller can answer 409.
pub fn transition_offer(
    conn: &mut DbConnection,
    id: &str,
    from: &[OfferState],
    to: OfferState,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let changed = diesel::update(offers::table.find(id).filter(offers::status.eq_any(from)))
        .set((offers::status.eq(to.as_str()), offers::updated_at.eq(at)))
        .execute(conn)?;
    if changed == 1 {
        crate::db::market_version::bump(conn)?;
    }
    if changed == 1 && to == OfferState::Published {
        diesel::update(offers::table.find(id))
            .set(offers::published_at.eq(at))
            .execute(conn)?;
    }
    Ok(changed == 1)
}

/// The caller's own offers, any state, newest first by id.
pub fn list_own_offers(
    conn: &mut DbConnection,
    organization_id: &str,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Offer>, DbError> {
    let mut query = offers::table
        .filter(offers::organization_id.eq(organization_id))
        .order(offers::id.desc())
        .limit(limit)
        .select(Offer::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(offers::status.eq(status.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(offers::id.lt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Browse filters, already validated and normalized by the API layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OfferFilter {
    /// An ISO code (an offer matches when it lists it or is worldwide), or `worldwide`.
    pub territory: Option<String>,
    pub usage: Option<String>,
    /// Folded genre key: the offer's slice has at least one track of it.
    pub genre: Option<String>,
    /// Folded label key: the offer's slice has at least one track of it.
    pub label: Option<String>,
    pub min_tracks: Option<i64>,
    /// Upper bound of the asking price, in minor units of `currency`.
    pub max_price: Option<i64>,
    pub currency: Option<String>,
    pub exclusive: Option<bool>,
    pub licensor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferSort {
    /// Most recently published first.
    Newest,
    /// Lowest asking price first.
    Price,
    /// Most tracks first.
    Size,
}

/// Where the previous page ended: the sort key of its last offer, and its id.
#[derive(Debug, Clone)]
pub enum OfferCursor {
    Newest(NaiveDateTime, String),
    Price(i64, String),
    Size(i64, String),
}

/// Open offers visible to `viewer_org` that pass `filter`.
fn filtered_offers<'a>(
    viewer_org: &'a str,
    filter: &'a OfferFilter,
    now: NaiveDateTime,
) -> offers::BoxedQuery<'a, DbBackend> {
    let mut query = offers::table
        .filter(offer_visible_to(viewer_org, now))
        .into_boxed();
    if let Some(territory) = &filter.territory {
        // Territories are stored as a JSON list of validated codes, so a quoted
        // code can only match a whole entry.
        query = query.filter(
            offers::territories
                .like(format!("%\"{territory}\"%"))
                .or(offers::territories.eq("[\"worldwide\"]")),
        );
    }
    if let Some(usage) = &filter.usage {
        query = query.filter(offers::usages.like(format!("%\"{usage}\"%")));
    }
    for (kind, key) in [("genre", &filter.genre), ("label", &filter.label)] {
        if let Some(key) = key {
            query = query.filter(
                offers::id.eq_any(
                    offer_facets::table
                        .filter(offer_facets::kind.eq(kind))
                        .filter(offer_facets::posting_key.eq(key.clone()))
                        .select(offer_facets::offer_id),
                ),
            );
        }
    }
    if let Some(min) = filter.min_tracks {
        query = query.filter(offers::track_count.ge(min));
    }
    if let Some(currency) = &filter.currency {
        query = query.filter(offers::currency.eq(currency.clone()));
    }
    if let Some(max) = filter.max_price {
        query = query.filter(offers::asking_minor.le(max));
    }
    if let Some(exclusive) = filter.exclusive {
        query = query.filter(offers::exclusive.eq(exclusive));
    }
    if let Some(licensor) = &filter.licensor {
        query = query.filter(offers::organization_id.eq(licensor.clone()));
    }
    query
}

/// One page of browsing: up to `limit` offers after `cursor` in `sort` order.
pub fn browse_offers(
    conn: &mut DbConnection,
    viewer_org: &str,
    filter: &OfferFilter,
    sort: OfferSort,
    cursor: Option<&OfferCursor>,
    limit: i64,
) -> Result<Vec<Offer>, DbError> {
    let mut query = filtered_offers(viewer_org, filter, crate::db::now())
        .select(Offer::as_select())
        .limit(limit);
    query = match sort {
        OfferSort::Newest => query.order((offers::published_at.desc(), offers::id.desc())),
        OfferSort::Price => query.order((offers::asking_minor.asc(), offers::id.asc())),
        OfferSort::Size => query.order((offers::track_count.desc(), offers::id.asc())),
    };
    query = match cursor.cloned() {
        None => query,
        Some(OfferCursor::Newest(at, id)) => {
            let published = offers::published_at.assume_not_null();
            query.filter(published.lt(at).or(published.eq(at).and(offers::id.lt(id))))
        }
        Some(OfferCursor::Price(price, id)) => query.filter(
            offers::asking_minor
                .gt(price)
                .or(offers::asking_minor.eq(price).and(offers::id.gt(id))),
        ),
        Some(OfferCursor::Size(size, id)) => query.filter(
            offers::track_count
                .lt(size)
                .or(offers::track_count.eq(size).and(offers::id.gt(id))),
        ),
    };
    Ok(query.load(conn)?)
}

/// How many offers of the filtered set have one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub offers: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferFacets {
    pub total: i64,
    pub genre: Vec<FacetCount>,
    pub label: Vec<FacetCount>,
    pub territory: Vec<FacetCount>,
}

/// Facet counts over every offer that passes `filter` (not only the page):
/// the `top` values of genre, label and territory by number of offers.
pub fn offer_facets(
    conn: &mut DbConnection,
    viewer_org: &str,
    filter: &OfferFilter,
    top: i64,
) -> Result<OfferFacets, DbError> {
    let now = crate::db::now();
    let mut facets = OfferFacets::default();
    // The filtered ids (thousands at most), then each offer's genre and label keys
    // from the per-process index below: counting them is a few million increments at
    // most, where a GROUP BY over the offer_facets rows costs seconds at 1,000 offers.
    let ids: Vec<String> = filtered_offers(viewer_org, filter, now)
        .select(offers::id)
        .load(conn)?;
    facets.total = ids.len() as i64;
    let counts = facet_keys::count(conn, &ids)?;
    let top_n = usize::try_from(top).unwrap_or(usize::MAX);
    facets.genre = counts.top("genre", top_n);
    facets.label = counts.top("label", top_n);
    // Territory lists are JSON on the offer itself; the filtered set is thousands of
    // rows at most, so they are counted here rather than normalized into a table.
    let lists: Vec<String> = filtered_offers(viewer_org, filter, now)
        .select(offers::territories)
        .load(conn)?;
    let mut territories: HashMap<String, i64> = HashMap::new();
    for list in lists {
        let codes: Vec<String> = serde_json::from_str(&list)
            .map_err(|e| DbError::Corrupt(format!("offer territories: {e}")))?;
        for code in codes {
            *territories.entry(code).or_default() += 1;
        }
    }
    let mut territory: Vec<FacetCount> = territories
        .into_iter()
        .map(|(value, offers)| FacetCount { value, offers })
        .collect();
    territory.sort_by(|a, b| b.offers.cmp(&a.offers).then_with(|| a.value.cmp(&b.value)));
    territory.truncate(usize::try_from(top).unwrap_or(usize::MAX));
    facets.territory = territory;
    Ok(facets)
}

/// [`offer_facets`] through a short-lived per-process cache: aggregating the label
/// rows of a thousand offers costs far more than a page of offers, and browsing
/// teams repeat the same filters. An entry serves the same viewer and filter for at
/// most [`facet_cache::TTL`], and only while the market is at the version it was
/// computed at, so an offer write on any node is seen at once.
pub fn offer_facets_cached(
    conn: &mut DbConnection,
    viewer_org: &str,
    filter: &OfferFilter,
    top: i64,
) -> Result<OfferFacets, DbError> {
    let version = crate::db::market_version::read(conn)?;
    if let Some(hit) = facet_cache::get(viewer_org, filter, top, version) {
        return Ok(hit);
    }
    let facets = offer_facets(conn, viewer_org, filter, top)?;
    facet_cache::put(viewer_org, filter, top, version, facets.clone());
    Ok(facets)
}

/// Every open offer visible to the viewer (for track lookup and matching). Offers
/// number in the thousands, not millions: the bitmaps do the heavy part.
pub fn open_visible_offers(
    conn: &mut DbConnection,
    viewer_org: &str,
) -> Result<Vec<Offer>, DbError> {
    Ok(offers::table
        .filter(offer_visible_to(viewer_org, crate::db::now()))
        .order(offers::id.asc())
        .select(Offer::as_select())
        .load(conn)?)
}

/// The slice bitmaps of these offers, by offer id.
pub fn offer_slice_sets(
    conn: &mut DbConnection,
    offers_of_interest: &[&Offer],
) -> Result<HashMap<String, TrackSet>, DbError> {
    use crate::db::schema::slices;
    let slice_ids: Vec<&str> = offers_of_interest
        .iter()
        .map(|o| o.slice_id.as_str())
        .collect();
    let mut by_slice: HashMap<String, TrackSet> = HashMap::new();
    for chunk in slice_ids.chunks(500) {
        let rows: Vec<(String, Vec<u8>)> = slices::table
            .filter(slices::id.eq_any(chunk))
            .select((slices::id, slices::bitmap))
            .load(conn)?;
        for (id, bytes) in rows {
            by_slice.insert(id, decode_set(&bytes)?);
        }
    }
    Ok(offers_of_interest
        .iter()
        .filter_map(|o| {
            by_slice
                .get(&o.slice_id)
                .map(|set| (o.id.clone(), set.clone()))
        })
        .collect())
}

/// Per genre and label of the catalog, how many tracks of `slice` have it: the
/// catalog's postings bitmaps intersected with the slice (never a scan of tracks).
pub fn slice_facets(
    conn: &mut DbConnection,
    offer_id: &str,
    catalog_no: i64,
    slice: &TrackSet,
) -> Result<Vec<OfferFacet>, DbError> {
    let mut facets = Vec::new();
    for kind in ["genre", "label"] {
        let rows: Vec<(String, String, Vec<u8>)> = catalog_postings::table
            .filter(catalog_postings::catalog_no.eq(catalog_no))
            .filter(catalog_postings::kind.eq(kind))
            .select((
                catalog_postings::posting_key,
                catalog_postings::display,
                catalog_postings::bitmap,
            ))
            .load(conn)?;
        for (key, display, bytes) in rows {
            let count = decode_set(&bytes)?.intersection_len(slice);
            if count > 0 {
                facets.push(OfferFacet {
                    offer_id: offer_id.to_string(),
                    kind: kind.to_string(),
                    posting_key: key,
                    display,
                    track_count: i64::try_from(count).unwrap_or(i64::MAX),
                });
            }
        }
    }
    Ok(facets)
}
