//! The one-time backfill of recording sets for rows written before rights were
//! kept per recording (migration `2026-11-30-000009_recordings`). Runs after the
//! migrations, in the migration lock; each row is done in its own transaction, so
//! an interrupted start resumes where it stopped. Rows already filled are never
//! touched again, which makes the step free on every later start.

use diesel::prelude::*;

use super::catalogs::{self, decode_set};
use super::schema::{catalogs as catalogs_t, grants, slices};
use super::{write_transaction, DbConnection, DbError};
use crate::domain::recording::RecordingSet;

/// What the backfill did (logged at startup).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Backfilled {
    pub catalogs: usize,
    pub slices: usize,
    pub grants: usize,
}

pub fn backfill(conn: &mut DbConnection) -> Result<Backfilled, DbError> {
    let mut done = Backfilled::default();
    let pending: Vec<i64> = catalogs_t::table
        .filter(catalogs_t::recordings.is_null())
        .select(catalogs_t::no)
        .load(conn)?;
    for no in pending {
        write_transaction(conn, |conn| {
            let set = RecordingSet::from_keys(catalogs::isrc_keys(conn, no)?);
            catalogs::set_catalog_recordings(conn, no, &set)
        })?;
        done.catalogs += 1;
    }
    let pending: Vec<(String, String, Vec<u8>)> = slices::table
        .filter(slices::recordings.is_null())
        .select((slices::id, slices::catalog_id, slices::bitmap))
        .load(conn)?;
    for (id, catalog_id, bitmap) in pending {
        write_transaction(conn, |conn| {
            let set = recordings_in(conn, &catalog_id, &bitmap)?;
            diesel::update(slices::table.find(&id))
                .set((
                    slices::recordings.eq(Some(set.to_bytes())),
                    slices::content_hash.eq(set.content_hash()),
                ))
                .execute(conn)?;
            Ok::<_, DbError>(())
        })?;
        done.slices += 1;
    }
    // A grant's recordings are its slice's (migration 000020); a grant written
    // before recordings were kept still names its set by the old track-id hash.
    let pending: Vec<(String, String)> = grants::table
        .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
        .filter(grants::tracks_hash.ne(slices::content_hash))
        .select((grants::id, slices::content_hash))
        .load(conn)?;
    for (id, content_hash) in pending {
        diesel::update(grants::table.find(&id))
            .set(grants::tracks_hash.eq(content_hash))
            .execute(conn)?;
        done.grants += 1;
    }
    Ok(done)
}

/// The recordings of a stored track bitmap of a catalog.
fn recordings_in(
    conn: &mut DbConnection,
    catalog_id: &str,
    bitmap: &[u8],
) -> Result<RecordingSet, DbError> {
    let catalog = catalogs::find_catalog(conn, catalog_id)?
        .ok_or_else(|| DbError::Corrupt(format!("catalog {catalog_id} is missing")))?;
    catalogs::recordings_of_tracks(conn, catalog.no, &decode_set(bitmap)?)
}
