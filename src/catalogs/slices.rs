//! Slices: a named, frozen cut of a catalog, selected by a selector. Cutting one
//! evaluates the selector on the catalog's postings and stores the resulting
//! bitmap (track ids) and its recordings (ISRCs, which its content hash is
//! over), in one transaction with its audit event.

use super::CatalogError;
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, Slice};
use crate::db::postings_cache::PostingsCache;
use crate::db::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::Author;
use crate::domain::selector::{evaluate, SelectorResult, ValidatedSelector};
use crate::domain::trackset::TrackSet;

/// Cuts a slice from one of the author's catalogs; the slice and what the
/// selector named that the catalog lacks.
pub fn create(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    author: &Author,
    catalog_id: &str,
    name: String,
    selector: &ValidatedSelector,
) -> Result<(Slice, SelectorResult), CatalogError> {
    let catalog = catalogs::find_owned_catalog(conn, &author.organization_id, catalog_id)?
        .ok_or(CatalogError::NotFound("catalog"))?;
    let index = catalogs::load_selector_index(conn, postings, catalog.no, selector)?;
    let result = evaluate(selector, &index);
    let selector = serde_json::to_string(&selector.to_selector())
        .map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))?;
    let slice = new_slice(conn, &catalog, name, selector, &result.tracks)?;
    write_transaction(conn, |conn| {
        catalogs::insert_slice(conn, &slice)?;
        AuditEvent::new("slice.created", "slice", Some(&slice.id))
            .by(Some(&slice.organization_id), Some(&author.user_id))
            .after(
                serde_json::json!({"catalog_id": slice.catalog_id, "name": slice.name,
                "track_count": slice.track_count, "content_hash": slice.content_hash}),
            )
            .write(conn)?;
        Ok::<_, DbError>(())
    })?;
    Ok((slice, result))
}

/// What `selector` would cut from one of the organization's catalogs, without storing
/// anything: the track count a person sees before saving a slice (the web app's slice
/// form). The same evaluation as [`create`].
pub fn preview(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    organization_id: &str,
    catalog_id: &str,
    selector: &ValidatedSelector,
) -> Result<SelectorResult, CatalogError> {
    let catalog = catalogs::find_owned_catalog(conn, organization_id, catalog_id)?
        .ok_or(CatalogError::NotFound("catalog"))?;
    let index = catalogs::load_selector_index(conn, postings, catalog.no, selector)?;
    Ok(evaluate(selector, &index))
}

/// A slice of `catalog` holding `tracks`, not yet stored. Rights are per
/// recording, so the slice keeps its ISRCs too, and its content hash is over
/// them: anyone can recompute it from the track list.
pub fn new_slice(
    conn: &mut DbConnection,
    catalog: &Catalog,
    name: String,
    selector: String,
    tracks: &TrackSet,
) -> Result<Slice, DbError> {
    let recordings = catalogs::recordings_of_tracks(conn, catalog.no, tracks)?;
    Ok(Slice {
        id: new_id(),
        catalog_id: catalog.id.clone(),
        organization_id: catalog.organization_id.clone(),
        name,
        selector,
        track_count: tracks.len() as i64,
        catalog_track_count: catalog.track_count,
        bitmap: tracks.to_bytes(),
        content_hash: recordings.content_hash(),
        frozen_at: None,
        created_at: now(),
        recordings: Some(recordings.to_bytes()),
    })
}
