//! Slices: a named, frozen cut of a catalog, selected by a selector. Cutting one
//! evaluates the selector on the catalog's postings and stores the resulting
//! bitmap, in one transaction with its audit event.

use super::CatalogError;
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Slice};
use crate::db::postings_cache::PostingsCache;
use crate::db::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::Author;
use crate::domain::selector::{evaluate, SelectorResult, ValidatedSelector};

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
    let slice = Slice {
        id: new_id(),
        catalog_id: catalog.id.clone(),
        organization_id: catalog.organization_id.clone(),
        name,
        selector: serde_json::to_string(&selector.to_selector())
            .map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))?,
        track_count: result.tracks.len() as i64,
        catalog_track_count: catalog.track_count,
        bitmap: result.tracks.to_bytes(),
        content_hash: result.tracks.content_hash(),
        frozen_at: None,
        created_at: now(),
    };
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
