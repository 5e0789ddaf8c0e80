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
    let pending: Vec<(String, String, Vec<u8>)> = grants::table
        .filter(grants::recordings.is_null())
        .select((grants::id, grants::catalog_id, grants::tracks))
        .load(conn)?;
    for (id, catalog_id, tracks) in pending {
        write_transaction(conn, |conn| {
            let set = recordings_in(conn, &catalog_id, &tracks)?;
            diesel::update(grants::table.find(&id))
                .set((
                    grants::recordings.eq(Some(set.to_bytes())),
                    grants::tracks_hash.eq(set.content_hash()),
                ))
                .execute(conn)?;
            Ok::<_, DbError>(())
        })?;
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
