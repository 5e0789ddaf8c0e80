//! Queries for the marketplace: offers (a licensor lists a slice with asking
//! terms), requests (a licensee lists what it wants), who may see them, browsing
//! with filters and facets, matching offers against requests, and expiry.
//!
//! Visibility is one SQL predicate per listing kind ([`offer_visible_to`],
//! [`request_visible_to`]) applied by every read that another organization can
//! reach, so a targeted listing can never leak through one endpoint and not another.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::catalogs::{self, decode_set};
use super::postings_cache::PostingsCache;
use super::schema::{
    catalog_postings, offer_facets, offer_targets, offers, organizations, request_targets, requests,
};
use super::{DbConnection, DbError};
use crate::domain::isrc::Isrc;
use crate::domain::selector::{evaluate, Selector};
use crate::domain::trackset::TrackSet;

type DbBackend = <DbConnection as diesel::Connection>::Backend;

pub const VISIBILITY_PUBLIC: &str = "public";
pub const VISIBILITY_TARGETED: &str = "targeted";

pub const OFFER_DRAFT: &str = "draft";
pub const OFFER_PUBLISHED: &str = "published";
pub const OFFER_WITHDRAWN: &str = "withdrawn";
pub const OFFER_EXPIRED: &str = "expired";

pub const REQUEST_OPEN: &str = "open";
pub const REQUEST_CLOSED: &str = "closed";
pub const REQUEST_WITHDRAWN: &str = "withdrawn";
pub const REQUEST_EXPIRED: &str = "expired";

/// How many of a slice's first tracks an offer shows.
pub const SAMPLE_TRACKS: usize = 5;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = offers)]
pub struct Offer {
    pub id: String,
    /// The licensor.
    pub organization_id: String,
    pub slice_id: String,
    pub catalog_id: String,
    pub catalog_no: i64,
    pub title: String,
    /// The asking terms: canonical JSON of a `TermSheetInput`.
    pub terms: String,
    /// JSON list as `Territories` serializes (`["CN","HK"]` or `["worldwide"]`).
    pub territories: String,
    /// JSON list as `Usages` serializes.
    pub usages: String,
    pub exclusive: bool,
    pub currency: String,
    /// Upfront fee + minimum guarantee, in minor units of `currency`.
    pub asking_minor: i64,
    pub track_count: i64,
    /// JSON list of the slice's first track ids (the sample shown with the offer).
    pub sample_track_ids: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub visibility: String,
    pub status: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// Tracks of an offer's slice having one genre or label of its catalog.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = offer_facets)]
pub struct OfferFacet {
    pub offer_id: String,
    /// `genre` or `label`.
    pub kind: String,
    /// The folded key (as in the catalog postings).
    pub posting_key: String,
    pub display: String,
    pub track_count: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = requests)]
pub struct MarketRequest {
    pub id: String,
    /// The licensee.
    pub organization_id: String,
    pub title: String,
    /// The normalized selector, JSON (exactly one of `selector` and `isrcs`).
    pub selector: Option<String>,
    /// JSON list of normalized ISRCs.
    pub isrcs: Option<String>,
    pub isrc_count: i64,
    pub territories: String,
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// In minor units of `currency`.
    pub budget_minor: Option<i64>,
    pub currency: String,
    pub visibility: String,
    pub status: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

// ---- visibility ------------------------------------------------------------------

/// Published, not past its expiry (the sweeper may not have run yet), and public,
/// the viewer's own, or targeted at the viewer.
fn offer_visible_to<'a>(
    viewer_org: &'a str,
    now: NaiveDateTime,
) -> Box<dyn BoxableExpression<offers::table, DbBackend, SqlType = diesel::sql_types::Bool> + 'a> {
    let targeted_at_viewer = offer_targets::table
        .filter(offer_targets::organization_id.eq(viewer_org))
        .select(offer_targets::offer_id);
    Box::new(
        offers::status
            .eq(OFFER_PUBLISHED)
            .and(offers::expires_at.gt(now))
            .and(
                offers::visibility
                    .eq(VISIBILITY_PUBLIC)
                    .or(offers::organization_id.eq(viewer_org))
                    .or(offers::id.eq_any(targeted_at_viewer)),
            ),
    )
}

/// Open, not past its expiry, and public, the viewer's own, or targeted at the viewer.
fn request_visible_to<'a>(
    viewer_org: &'a str,
    now: NaiveDateTime,
) -> Box<dyn BoxableExpression<requests::table, DbBackend, SqlType = diesel::sql_types::Bool> + 'a>
{
    let targeted_at_viewer = request_targets::table
        .filter(request_targets::organization_id.eq(viewer_org))
        .select(request_targets::request_id);
    Box::new(
        requests::status
            .eq(REQUEST_OPEN)
            .and(requests::expires_at.gt(now))
            .and(
                requests::visibility
                    .eq(VISIBILITY_PUBLIC)
                    .or(requests::organization_id.eq(viewer_org))
                    .or(requests::id.eq_any(targeted_at_viewer)),
            ),
    )
}

// ---- offers ----------------------------------------------------------------------

/// Writes an offer with its targets and facet rows (inside the caller's transaction).
pub fn insert_offer(
    conn: &mut DbConnection,
    offer: &Offer,
    targets: &[String],
    facets: &[OfferFacet],
) -> Result<(), DbError> {
    facet_cache::invalidate();
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
    // Multi-row inserts are backend-specific in diesel's MultiConnection.
    for chunk in facets.chunks(1_000) {
        match conn {
            DbConnection::Postgres(pg) => diesel::insert_into(offer_facets::table)
                .values(chunk)
                .execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_into(offer_facets::table)
                .values(chunk)
                .execute(lite)?,
        };
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
        .filter(offer_visible_to(viewer_org, super::now()))
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
    from: &[&str],
    to: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    facet_cache::invalidate();
    let changed = diesel::update(offers::table.find(id).filter(offers::status.eq_any(from)))
        .set((offers::status.eq(to), offers::updated_at.eq(at)))
        .execute(conn)?;
    if changed == 1 && to == OFFER_PUBLISHED {
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
    let mut query = filtered_offers(viewer_org, filter, super::now())
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
    let now = super::now();
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
/// most [`facet_cache::TTL`], and any offer write in this process drops every entry,
/// so only writes made on other nodes can show up to that late.
pub fn offer_facets_cached(
    conn: &mut DbConnection,
    viewer_org: &str,
    filter: &OfferFilter,
    top: i64,
) -> Result<OfferFacets, DbError> {
    if let Some(hit) = facet_cache::get(viewer_org, filter, top) {
        return Ok(hit);
    }
    let generation = facet_cache::generation();
    let facets = offer_facets(conn, viewer_org, filter, top)?;
    facet_cache::put(viewer_org, filter, top, generation, facets.clone());
    Ok(facets)
}

pub mod facet_keys {
    //! Which genres and labels each offer's slice holds, interned and kept in memory.
    //! An offer's facet rows never change (slices are immutable and existing tracks
    //! keep their attributes), so an entry never goes stale; offers number in the
    //! thousands, so the whole index is a few million integers.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    use diesel::prelude::*;

    use super::super::schema::offer_facets;
    use super::super::{DbConnection, DbError};
    use super::FacetCount;

    #[derive(Default)]
    struct Index {
        /// (kind, folded key) → interned number.
        numbers: HashMap<(String, String), u32>,
        /// Interned number → (kind, display).
        names: Vec<(String, String)>,
        /// Offer id → interned numbers of its genres and labels.
        offers: HashMap<String, Arc<[u32]>>,
    }

    static INDEX: OnceLock<Mutex<Index>> = OnceLock::new();

    /// Counts per interned key over a set of offers.
    pub struct Counts {
        per_key: Vec<i64>,
        names: Vec<(String, String)>,
    }

    impl Counts {
        /// The `n` values of `kind` held by most offers (ties by value).
        pub fn top(&self, kind: &str, n: usize) -> Vec<FacetCount> {
            let mut values: Vec<FacetCount> = self
                .per_key
                .iter()
                .enumerate()
                .filter(|(i, c)| **c > 0 && self.names[*i].0 == kind)
                .map(|(i, c)| FacetCount {
                    value: self.names[i].1.clone(),
                    offers: *c,
                })
                .collect();
            values.sort_by(|a, b| b.offers.cmp(&a.offers).then_with(|| a.value.cmp(&b.value)));
            values.truncate(n);
            values
        }
    }

    /// How many of `offer_ids` hold each genre and label. Offers not yet indexed are
    /// loaded first, under the index lock, so concurrent first requests load once.
    pub fn count(conn: &mut DbConnection, offer_ids: &[String]) -> Result<Counts, DbError> {
        let lock = INDEX.get_or_init(|| Mutex::new(Index::default()));
        let mut index = lock
            .lock()
            .map_err(|_| DbError::Corrupt("facet index lock poisoned".into()))?;
        let missing: Vec<&str> = offer_ids
            .iter()
            .filter(|id| !index.offers.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        for chunk in missing.chunks(200) {
            let rows: Vec<(String, String, String, String)> = offer_facets::table
                .filter(offer_facets::offer_id.eq_any(chunk))
                .select((
                    offer_facets::offer_id,
                    offer_facets::kind,
                    offer_facets::posting_key,
                    offer_facets::display,
                ))
                .load(conn)?;
            let mut per_offer: HashMap<String, Vec<u32>> = chunk
                .iter()
                .map(|id| (id.to_string(), Vec::new()))
                .collect();
            for (offer_id, kind, key, display) in rows {
                let next = index.names.len() as u32;
                let number = *index.numbers.entry((kind.clone(), key)).or_insert(next);
                if number == next {
                    index.names.push((kind, display));
                }
                per_offer.entry(offer_id).or_default().push(number);
            }
            for (offer_id, numbers) in per_offer {
                index.offers.insert(offer_id, numbers.into());
            }
        }
        let mut per_key = vec![0i64; index.names.len()];
        for id in offer_ids {
            if let Some(numbers) = index.offers.get(id) {
                for &n in numbers.iter() {
                    per_key[n as usize] += 1;
                }
            }
        }
        Ok(Counts {
            per_key,
            names: index.names.clone(),
        })
    }
}

pub mod facet_cache {
    //! The per-process facet cache of [`super::offer_facets_cached`].

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use super::{OfferFacets, OfferFilter};

    /// How long an entry may serve, bounding staleness across nodes.
    pub const TTL: Duration = Duration::from_secs(5);
    /// Entries kept before the cache is emptied (viewers × distinct filters).
    const MAX_ENTRIES: usize = 4_096;

    type Key = (String, OfferFilter, i64);
    struct Entry {
        generation: u64,
        at: Instant,
        facets: OfferFacets,
    }

    static GENERATION: AtomicU64 = AtomicU64::new(0);
    static ENTRIES: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();

    fn entries() -> &'static Mutex<HashMap<Key, Entry>> {
        ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
    }

    /// Any offer changed: entries computed before now are no longer served.
    pub fn invalidate() {
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation() -> u64 {
        GENERATION.load(Ordering::SeqCst)
    }

    pub fn get(viewer: &str, filter: &OfferFilter, top: i64) -> Option<OfferFacets> {
        let map = entries().lock().ok()?;
        let entry = map.get(&(viewer.to_string(), filter.clone(), top))?;
        (entry.generation == generation() && entry.at.elapsed() < TTL).then(|| entry.facets.clone())
    }

    /// Stores facets computed from data read at `generation` (a write that raced
    /// the computation leaves the entry unusable rather than stale).
    pub fn put(viewer: &str, filter: &OfferFilter, top: i64, generation: u64, facets: OfferFacets) {
        if let Ok(mut map) = entries().lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(
                (viewer.to_string(), filter.clone(), top),
                Entry {
                    generation,
                    at: Instant::now(),
                    facets,
                },
            );
        }
    }
}

/// Every open offer visible to the viewer (for track lookup and matching). Offers
/// number in the thousands, not millions: the bitmaps do the heavy part.
pub fn open_visible_offers(
    conn: &mut DbConnection,
    viewer_org: &str,
) -> Result<Vec<Offer>, DbError> {
    Ok(offers::table
        .filter(offer_visible_to(viewer_org, super::now()))
        .order(offers::id.asc())
        .select(Offer::as_select())
        .load(conn)?)
}

/// The slice bitmaps of these offers, by offer id.
pub fn offer_slice_sets(
    conn: &mut DbConnection,
    offers_of_interest: &[&Offer],
) -> Result<HashMap<String, TrackSet>, DbError> {
    use super::schema::slices;
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
        .filter(request_visible_to(viewer_org, super::now()))
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
        query.filter(request_visible_to(viewer_org, super::now()))
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
        .filter(request_visible_to(viewer_org, super::now()))
        .order(requests::id.asc())
        .select(MarketRequest::as_select())
        .load(conn)?)
}

/// See [`transition_offer`].
pub fn transition_request(
    conn: &mut DbConnection,
    id: &str,
    from: &[&str],
    to: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        requests::table
            .find(id)
            .filter(requests::status.eq_any(from)),
    )
    .set((requests::status.eq(to), requests::updated_at.eq(at)))
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
            .filter_map(|s| Isrc::parse(s).ok())
            .map(|isrc| isrc.key())
            .collect();
        let mut set = TrackSet::new();
        for (_, id) in catalogs::track_ids_for_isrc_keys(conn, catalog_no, &keys)? {
            if let Ok(id) = u32::try_from(id) {
                set.insert(id);
            }
        }
        return Ok(set);
    }
    let selector: Selector = serde_json::from_str(request.selector.as_deref().unwrap_or("{}"))
        .map_err(|e| DbError::Corrupt(format!("request selector: {e}")))?;
    let selector = selector
        .validate()
        .map_err(|e| DbError::Corrupt(format!("request selector: {e}")))?;
    let index = catalogs::load_selector_index(conn, postings, catalog_no, &selector)?;
    Ok(evaluate(&selector, &index).tracks)
}

// ---- expiry ----------------------------------------------------------------------

/// What one sweep expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub offers: usize,
    pub requests: usize,
}

/// Expires every draft or published offer and every open request whose expiry has
/// passed. Idempotent; run by the sweeper in `cadenza serve` and callable directly.
pub fn expire_due(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Expired, DbError> {
    let offers = diesel::update(
        offers::table
            .filter(offers::status.eq_any([OFFER_DRAFT, OFFER_PUBLISHED]))
            .filter(offers::expires_at.le(now)),
    )
    .set((offers::status.eq(OFFER_EXPIRED), offers::updated_at.eq(now)))
    .execute(conn)?;
    if offers > 0 {
        facet_cache::invalidate();
    }
    let requests = diesel::update(
        requests::table
            .filter(requests::status.eq(REQUEST_OPEN))
            .filter(requests::expires_at.le(now)),
    )
    .set((
        requests::status.eq(REQUEST_EXPIRED),
        requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(Expired { offers, requests })
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
            .filter(requests::status.eq(REQUEST_OPEN)),
    )
    .set((
        requests::status.eq(REQUEST_CLOSED),
        requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(closed > 0)
}

// ---- directory -------------------------------------------------------------------

/// Organizations by name (then id), optionally whose name contains `q`
/// (case-insensitive), after the `(name, id)` cursor.
pub fn list_organizations(
    conn: &mut DbConnection,
    q: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<(String, String, String)>, DbError> {
    let mut query = organizations::table
        .order((organizations::name.asc(), organizations::id.asc()))
        .limit(limit)
        .select((organizations::id, organizations::name, organizations::kind))
        .into_boxed();
    if let Some(q) = q {
        let pattern = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            catalogs::lower(organizations::name)
                .like(pattern)
                .escape('\\'),
        );
    }
    if let Some((name, id)) = after {
        query = query.filter(
            organizations::name
                .gt(name.to_string())
                .or(organizations::name
                    .eq(name.to_string())
                    .and(organizations::id.gt(id.to_string()))),
        );
    }
    Ok(query.load(conn)?)
}

/// Names of these organizations, by id.
pub fn organization_names(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<HashMap<String, String>, DbError> {
    let mut names = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = organizations::table
            .filter(organizations::id.eq_any(chunk))
            .select((organizations::id, organizations::name))
            .load(conn)?;
        names.extend(rows);
    }
    Ok(names)
}

/// Names of these catalogs, by catalog number.
pub fn catalog_names(
    conn: &mut DbConnection,
    nos: &[i64],
) -> Result<HashMap<i64, String>, DbError> {
    use super::schema::catalogs as catalog_table;
    let mut names = HashMap::new();
    for chunk in nos.chunks(500) {
        let rows: Vec<(i64, String)> = catalog_table::table
            .filter(catalog_table::no.eq_any(chunk))
            .select((catalog_table::no, catalog_table::name))
            .load(conn)?;
        names.extend(rows);
    }
    Ok(names)
}
