//! Copying tracks from one catalog into another through the import's own
//! numbering, indexing and bulk writes: how a catalog received through a grant
//! gets the granted tracks' metadata. Rows are read back from storage, so a
//! stored value that no longer parses is corrupt, never skipped.

use super::{ImportError, ImportReport, ImportRun};
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, TrackRow};
use crate::db::{DbConnection, DbError};
use crate::domain::isrc::Isrc;
use crate::domain::track::{Iswc, Track};
use crate::domain::trackset::TrackSet;

/// Source rows read per query.
const READ_CHUNK: usize = 10_000;

/// Copies the tracks `ids` of the catalog numbered `source_no` into `catalog`
/// (in the caller's transaction; the catalog must be empty or lack them).
pub fn copy_tracks(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor_user_id: Option<&str>,
    source_no: i64,
    ids: &TrackSet,
) -> Result<ImportReport, ImportError> {
    catalogs::lock_catalog(conn, catalog.no)?;
    let (batches, written) = std::sync::mpsc::sync_channel::<Vec<TrackRow>>(4);
    let mut run = ImportRun::new(catalog, Vec::new(), batches);
    let all: Vec<u32> = ids.iter().collect();
    for chunk in all.chunks(READ_CHUNK) {
        for row in catalogs::tracks_by_ids(conn, source_no, chunk)? {
            run.rows_seen += 1;
            let track = stored_track(&row)?;
            let key = track.isrc.key();
            run.add(track, key);
            if run.batch.len() >= super::BATCH_ROWS {
                run.hand_over()?;
            }
        }
        // At most one batch is handed over per chunk, so the channel never fills.
        for batch in written.try_iter() {
            catalogs::insert_tracks(conn, &batch)?;
        }
    }
    run.close()?;
    for batch in written.try_iter() {
        catalogs::insert_tracks(conn, &batch)?;
    }
    let report = run.finish(conn, catalog)?;
    AuditEvent::new("catalog.imported", "catalog", Some(&catalog.id))
        .by(Some(&catalog.organization_id), actor_user_id)
        .after(serde_json::json!({"imported": report.imported, "format": "grant"}))
        .write(conn)?;
    Ok(report)
}

/// A stored track as the domain reads it.
fn stored_track(row: &TrackRow) -> Result<Track, DbError> {
    let corrupt = |what: &str| {
        DbError::Corrupt(format!(
            "track {} of catalog {}: {what}",
            row.track_id, row.catalog_no
        ))
    };
    Ok(Track {
        isrc: Isrc::from_key(row.isrc_key).ok_or_else(|| corrupt("isrc key"))?,
        title: row.title.clone(),
        artists: row
            .artists
            .split(';')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        label: row.label.clone(),
        genre: row.genre.clone(),
        release_date: row.release_date,
        duration_ms: u32::try_from(row.duration_ms).map_err(|_| corrupt("duration"))?,
        iswc: row
            .iswc
            .as_deref()
            .map(Iswc::parse)
            .transpose()
            .map_err(|_| corrupt("iswc"))?,
    })
}
