//! Catalog operations beyond a single query: creating, renaming and removing
//! catalogs, importing into them (see `crate::import`), and keeping this node's
//! postings cache warm. Storage is `crate::db::catalogs`; `crate::api::catalogs`
//! parses and renders.

use std::sync::Arc;

use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, NewCatalog, Slice};
use crate::db::postings_cache::PostingsCache;
use crate::db::{new_id, now, stored, stored_json, write_transaction, Db, DbConnection, DbError};
use crate::domain::account::Author;
use crate::domain::grant::GrantStatus;
use crate::domain::period::Period;
use crate::domain::terms::{TermsContext, UpstreamContext};
use crate::domain::territory::Territories;
use crate::domain::usage::Usages;

pub mod slices;

/// What a catalog operation can refuse, or fail with.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Absent, or not the caller's.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// Loads catalogs' postings into this node's cache in the background — every
/// catalog, biggest first, at start; one catalog after an import — so the first
/// selector on a catalog is as fast as a repeated one. Failures only cost speed.
pub async fn warm_postings(db: Db, cache: Arc<PostingsCache>, catalog_no: Option<i64>) {
    if !cache.is_enabled() {
        return;
    }
    let started = std::time::Instant::now();
    let warmed = db
        .run(move |conn| {
            let catalogs = match catalog_no {
                Some(no) => vec![no],
                None => catalogs::catalogs_by_size(conn)?,
            };
            let mut loaded = 0;
            for no in catalogs {
                loaded += catalogs::warm_postings(conn, &cache, no)?;
            }
            Ok::<_, DbError>(loaded)
        })
        .await;
    match warmed {
        Ok(0) => {}
        Ok(postings) => tracing::info!(
            postings,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "postings cache warmed"
        ),
        Err(e) => tracing::warn!(error = %e, "warming the postings cache failed"),
    }
}

/// What terms for a slice of `catalog` must fit in: its self-declared holding,
/// or, for a catalog received through a grant, that grant's rights (exclusive
/// only if the grant was, nothing at all once it ended); and the slice's tracks
/// hash the terms commit to. A holding that does not read back is corrupt data.
pub fn terms_context(
    conn: &mut DbConnection,
    catalog: &Catalog,
    slice: &Slice,
) -> Result<TermsContext, DbError> {
    let tracks_hash = slice.content_hash.clone();
    if let Some(grant_id) = &catalog.backing_grant_id {
        let grant = crate::db::deals::find_grant(conn, grant_id)?
            .ok_or_else(|| DbError::Corrupt(format!("backing grant {grant_id} is missing")))?;
        let ended = stored::<GrantStatus>("grants.status", &grant.status)? != GrantStatus::Active;
        return Ok(TermsContext {
            territories: stored_json("grants.territories", &grant.territories)?,
            usages: stored_json("grants.usages", &grant.usages)?,
            period: Period::new(grant.start_date, grant.end_date)
                .map_err(|e| DbError::Corrupt(format!("grant period: {e}")))?,
            sublicensable: grant.sublicensable,
            exclusive: grant.exclusive,
            upstream: Some(UpstreamContext {
                grant_id: grant.id.clone(),
                ended_on: ended.then_some(grant.end_date),
            }),
            tracks_hash,
        });
    }
    Ok(TermsContext {
        territories: stored_json("catalogs.territories", &catalog.territories)?,
        usages: stored_json("catalogs.usages", &catalog.usages)?,
        period: Period::new(catalog.holding_start, catalog.holding_end)
            .map_err(|e| DbError::Corrupt(format!("catalog holding: {e}")))?,
        sublicensable: catalog.sublicensable,
        exclusive: true,
        upstream: None,
        tracks_hash,
    })
}

/// Registers a catalog and the rights the organization holds in it (no tracks
/// yet), in one transaction with its audit event.
pub fn create(
    conn: &mut DbConnection,
    author: &Author,
    name: String,
    territories: &Territories,
    usages: &Usages,
    holding: Period,
    sublicensable: bool,
) -> Result<Catalog, DbError> {
    let at = now();
    let new = NewCatalog {
        id: new_id(),
        organization_id: author.organization_id.clone(),
        name,
        territories: to_json(territories)?,
        usages: to_json(usages)?,
        holding_start: holding.start,
        holding_end: holding.end,
        sublicensable,
        track_count: 0,
        created_at: at,
        updated_at: at,
        recordings: Some(crate::domain::recording::RecordingSet::new().to_bytes()),
        backing_grant_id: None,
    };
    write_transaction(conn, |conn| {
        let catalog = catalogs::insert_catalog(conn, &new)?;
        // The holding's history starts with this version.
        crate::db::holdings::append(
            conn,
            &crate::db::holdings::HoldingVersionRow {
                id: new_id(),
                catalog_id: catalog.id.clone(),
                scope: "catalog".into(),
                scope_key: String::new(),
                display: String::new(),
                version: 1,
                territories: catalog.territories.clone(),
                usages: catalog.usages.clone(),
                start_date: catalog.holding_start,
                end_date: catalog.holding_end,
                sublicensable: catalog.sublicensable,
                removed: false,
                changed_by: Some(author.user_id.clone()),
                changed_at: at,
                superseded_at: None,
                recordings: None,
            },
            at,
        )?;
        AuditEvent::new("catalog.created", "catalog", Some(&catalog.id))
            .by(Some(&catalog.organization_id), Some(&author.user_id))
            .after(serde_json::json!({"name": catalog.name, "territories": territories, "usages": usages,
                "holding_start": catalog.holding_start, "holding_end": catalog.holding_end, "sublicensable": catalog.sublicensable}))
            .write(conn)?;
        Ok(catalog)
    })
}

/// A value as the JSON text stored in a column.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))
}
