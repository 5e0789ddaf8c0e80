//! Releases received as DDEX ERN messages (`ern_releases`), and the recording
//! overrides a delivery replaces (`holding_versions`, scope `recording`: written by
//! hand, or by deliveries before migration 000021 kept them as sets).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::holdings::HoldingVersionRow;
use super::schema::{ern_releases, holding_versions};
use super::{DbConnection, DbError};

/// Keys per `IN (…)` list (well under SQLite's 32,766 bound parameters).
const CHUNK: usize = 2_000;
/// Rows per multi-row insert of releases.
const INSERT_CHUNK: usize = 1_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ern_releases)]
pub struct ErnReleaseRow {
    pub catalog_id: String,
    pub release_key: String,
    /// JSON array of ISRCs.
    pub isrcs: String,
    pub message_id: String,
    pub delivered_at: NaiveDateTime,
    pub taken_down_on: Option<NaiveDate>,
}

impl ErnReleaseRow {
    pub fn isrc_list(&self) -> Result<Vec<String>, DbError> {
        serde_json::from_str(&self.isrcs)
            .map_err(|e| DbError::Corrupt(format!("ern_releases.isrcs: {e}")))
    }
}

/// The stored releases of a catalog among `keys`.
pub fn find_releases(
    conn: &mut DbConnection,
    catalog_id: &str,
    keys: &[String],
) -> Result<Vec<ErnReleaseRow>, DbError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        found.extend(
            ern_releases::table
                .filter(ern_releases::catalog_id.eq(catalog_id))
                .filter(ern_releases::release_key.eq_any(chunk))
                .select(ErnReleaseRow::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}

/// Writes these releases of a catalog, first deleting the stored rows of `replacing`
/// (the keys among them that have one).
pub fn save_releases(
    conn: &mut DbConnection,
    catalog_id: &str,
    replacing: &[String],
    rows: &[ErnReleaseRow],
) -> Result<(), DbError> {
    for chunk in replacing.chunks(CHUNK) {
        diesel::delete(
            ern_releases::table
                .filter(ern_releases::catalog_id.eq(catalog_id))
                .filter(ern_releases::release_key.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert_batch!(conn, ern_releases::table, chunk)?;
    }
    Ok(())
}

/// The current version (removed or not) of each recording override named.
pub fn current_recording_overrides(
    conn: &mut DbConnection,
    catalog_id: &str,
    isrcs: &[String],
) -> Result<HashMap<String, HoldingVersionRow>, DbError> {
    let mut found = HashMap::with_capacity(isrcs.len());
    for chunk in isrcs.chunks(CHUNK) {
        let rows: Vec<HoldingVersionRow> = holding_versions::table
            .filter(holding_versions::catalog_id.eq(catalog_id))
            .filter(holding_versions::scope.eq("recording"))
            .filter(holding_versions::scope_key.eq_any(chunk))
            .filter(holding_versions::superseded_at.is_null())
            .select(HoldingVersionRow::as_select())
            .load(conn)?;
        for row in rows {
            found.insert(row.scope_key.clone(), row);
        }
    }
    Ok(found)
}

/// Whether the catalog has any current recording override (removed or not): when it
/// has none, a delivery need not look its recordings up one by one.
pub fn has_current_recording_overrides(
    conn: &mut DbConnection,
    catalog_id: &str,
) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        holding_versions::table
            .filter(holding_versions::catalog_id.eq(catalog_id))
            .filter(holding_versions::superseded_at.is_null())
            .filter(holding_versions::scope.eq("recording")),
    ))
    .get_result(conn)?)
}
