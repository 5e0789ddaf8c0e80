//! Storage of the marketplace, by concept: offers ([`offer`]: writing, browsing,
//! facets), requests ([`request`]: writing, listing, the tracks one asks for),
//! the directory ([`directory`]), the facet index and cache, and expiry. States
//! and visibility are the typed names of `crate::domain::listing`.
//!
//! Visibility is one SQL predicate per listing kind ([`offer_visible_to`],
//! [`request_visible_to`]) applied by every read that another organization can
//! reach, so a targeted listing can never leak through one endpoint and not another.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::catalogs::{self, decode_set};
use super::postings_cache::PostingsCache;
use super::schema::{
    catalog_postings, offer_facets, offer_targets, offers, organizations, request_targets, requests,
};
use super::{DbConnection, DbError};
use crate::domain::isrc::Isrc;
use crate::domain::listing::{OfferState, RequestState, Visibility};
use crate::domain::selector::{evaluate, Selector};
use crate::domain::trackset::TrackSet;

pub mod directory;
pub mod facet_cache;
pub mod facet_keys;
pub mod offer;
pub mod request;

pub use directory::*;
pub use offer::*;
pub use request::*;

type DbBackend = <DbConnection as diesel::Connection>::Backend;

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
            .eq(OfferState::Published.as_str())
            .and(offers::expires_at.gt(now))
            .and(
                offers::visibility
                    .eq(Visibility::Public.as_str())
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
            .eq(RequestState::Open.as_str())
            .and(requests::expires_at.gt(now))
            .and(
                requests::visibility
                    .eq(Visibility::Public.as_str())
                    .or(requests::organization_id.eq(viewer_org))
                    .or(requests::id.eq_any(targeted_at_viewer)),
            ),
    )
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
            .filter(offers::status.eq_any(OfferState::EXPIRABLE.map(OfferState::as_str)))
            .filter(offers::expires_at.le(now)),
    )
    .set((
        offers::status.eq(OfferState::Expired.as_str()),
        offers::updated_at.eq(now),
    ))
    .execute(conn)?;
    if offers > 0 {
        crate::db::market_version::bump(conn)?;
    }
    let requests = diesel::update(
        requests::table
            .filter(requests::status.eq(RequestState::Open.as_str()))
            .filter(requests::expires_at.le(now)),
    )
    .set((
        requests::status.eq(RequestState::Expired.as_str()),
        requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(Expired { offers, requests })
}
