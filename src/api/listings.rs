//! How offers and requests are shown: the views both listing endpoints (and
//! "who offers this recording") render, with names and sample tracks loaded in
//! bulk. Reads only; every change goes through `crate::marketplace`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::catalogs::TrackView;
use crate::db::catalogs::TrackRow;
use crate::db::marketplace::{self, MarketRequest, Offer};
use crate::db::{catalogs, DbConnection, DbError};
use crate::domain::money::Currency;
use crate::domain::selector::Selector;
use crate::domain::terms::TermSheetInput;

/// An organization as listings name it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub title: String,
    /// draft, published, withdrawn or expired.
    pub status: String,
    /// `public` or `targeted`.
    pub visibility: String,
    /// The organizations a targeted offer is meant for; shown to the licensor only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_organization_ids: Option<Vec<String>>,
    pub licensor: OrganizationRef,
    /// The catalog the slice is cut from.
    pub catalog: CatalogRef,
    pub slice_id: String,
    pub track_count: i64,
    /// The slice's first tracks by track id.
    pub sample_tracks: Vec<TrackView>,
    /// The asking terms (a full term sheet); a deal opened from the offer starts from them.
    pub terms: TermSheetInput,
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub exclusive: bool,
    pub currency: String,
    /// Upfront fee + minimum guarantee, a decimal string in `currency`.
    pub asking_price: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {e}"))
}

/// Views of `offers` as `viewer_org` sees them, in the given order, with names and
/// sample tracks loaded in bulk.
pub fn offer_views(
    conn: &mut DbConnection,
    viewer_org: &str,
    offers: Vec<Offer>,
) -> Result<Vec<OfferView>, DbError> {
    let org_ids: Vec<&str> = offers.iter().map(|o| o.organization_id.as_str()).collect();
    let orgs = marketplace::organization_names(conn, &org_ids)?;
    let catalog_nos: Vec<i64> = offers.iter().map(|o| o.catalog_no).collect();
    let catalog_names = marketplace::catalog_names(conn, &catalog_nos)?;
    // Sample tracks with one query per catalog on the page, not one per offer.
    let mut samples: HashMap<i64, Vec<u32>> = HashMap::new();
    let mut sample_ids_of = Vec::with_capacity(offers.len());
    for o in &offers {
        let ids: Vec<u32> =
            serde_json::from_str(&o.sample_track_ids).map_err(|e| corrupt("offer sample", e))?;
        samples.entry(o.catalog_no).or_default().extend(&ids);
        sample_ids_of.push(ids);
    }
    let mut tracks: HashMap<(i64, i32), TrackRow> = HashMap::new();
    for (catalog_no, mut ids) in samples {
        ids.sort_unstable();
        ids.dedup();
        for row in catalogs::tracks_by_ids(conn, catalog_no, &ids)? {
            tracks.insert((catalog_no, row.track_id), row);
        }
    }
    let mut views = Vec::with_capacity(offers.len());
    for (o, sample_ids) in offers.into_iter().zip(sample_ids_of) {
        let sample_tracks = sample_ids
            .iter()
            .filter_map(|&id| i32::try_from(id).ok())
            .filter_map(|id| tracks.get(&(o.catalog_no, id)).cloned())
            .map(TrackView::try_from)
            .collect::<Result<_, _>>()?;
        let targets = if o.organization_id == viewer_org {
            Some(marketplace::offer_targets(conn, &o.id)?)
        } else {
            None
        };
        let currency = Currency::parse(&o.currency).map_err(|e| corrupt("offer currency", e))?;
        views.push(OfferView {
            terms: serde_json::from_str(&o.terms).map_err(|e| corrupt("offer terms", e))?,
            territories: serde_json::from_str(&o.territories)
                .map_err(|e| corrupt("offer territories", e))?,
            usages: serde_json::from_str(&o.usages).map_err(|e| corrupt("offer usages", e))?,
            asking_price: currency.format_amount(currency.from_minor_units(o.asking_minor)),
            licensor: OrganizationRef {
                name: orgs.get(&o.organization_id).cloned().unwrap_or_default(),
                id: o.organization_id,
            },
            catalog: CatalogRef {
                name: catalog_names
                    .get(&o.catalog_no)
                    .cloned()
                    .unwrap_or_default(),
                id: o.catalog_id,
            },
            target_organization_ids: targets,
            id: o.id,
            title: o.title,
            status: o.status,
            visibility: o.visibility,
            slice_id: o.slice_id,
            track_count: o.track_count,
            sample_tracks,
            exclusive: o.exclusive,
            currency: o.currency,
            start_date: o.start_date,
            end_date: o.end_date,
            expires_at: o.expires_at.and_utc(),
            created_at: o.created_at.and_utc(),
            published_at: o.published_at.map(|t| t.and_utc()),
            updated_at: o.updated_at.and_utc(),
        });
    }
    Ok(views)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub title: String,
    /// The licensee.
    pub organization: OrganizationRef,
    /// open, closed, withdrawn or expired.
    pub status: String,
    /// `public` or `targeted`.
    pub visibility: String,
    /// Shown to the licensee only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_organization_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// The requested ISRCs (on `GET /requests/{id}` only; lists show `isrc_count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isrcs: Option<Vec<String>>,
    pub isrc_count: i64,
    pub territories: Vec<String>,
    pub usages: Vec<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Decimal string in `currency`.
    pub budget: Option<String>,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn request_view(
    conn: &mut DbConnection,
    viewer_org: &str,
    r: MarketRequest,
    org_name: String,
    with_isrcs: bool,
) -> Result<RequestView, DbError> {
    let currency = Currency::parse(&r.currency).map_err(|e| corrupt("request currency", e))?;
    let targets = if r.organization_id == viewer_org {
        Some(marketplace::request_targets(conn, &r.id)?)
    } else {
        None
    };
    let selector = r
        .selector
        .as_deref()
        .map(serde_json::from_str::<Selector>)
        .transpose()
        .map_err(|e| corrupt("request selector", e))?;
    let isrcs = match (&r.isrcs, with_isrcs) {
        (Some(list), true) => {
            Some(serde_json::from_str(list).map_err(|e| corrupt("request isrcs", e))?)
        }
        _ => None,
    };
    Ok(RequestView {
        organization: OrganizationRef {
            id: r.organization_id,
            name: org_name,
        },
        target_organization_ids: targets,
        selector,
        isrcs,
        territories: serde_json::from_str(&r.territories)
            .map_err(|e| corrupt("request territories", e))?,
        usages: serde_json::from_str(&r.usages).map_err(|e| corrupt("request usages", e))?,
        budget: r
            .budget_minor
            .map(|b| currency.format_amount(currency.from_minor_units(b))),
        id: r.id,
        title: r.title,
        status: r.status,
        visibility: r.visibility,
        isrc_count: r.isrc_count,
        start_date: r.start_date,
        end_date: r.end_date,
        currency: r.currency,
        expires_at: r.expires_at.and_utc(),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// Views of requests as `viewer_org` sees them (without the ISRC lists).
pub fn request_views(
    conn: &mut DbConnection,
    viewer_org: &str,
    requests: Vec<MarketRequest>,
) -> Result<Vec<RequestView>, DbError> {
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.organization_id.as_str())
        .collect();
    let names = marketplace::organization_names(conn, &ids)?;
    requests
        .into_iter()
        .map(|r| {
            let name = names.get(&r.organization_id).cloned().unwrap_or_default();
            request_view(conn, viewer_org, r, name, false)
        })
        .collect()
}
