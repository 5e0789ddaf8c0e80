//! Queries for self-declared holdings with history (`holding_versions`): every
//! version of a catalog's holding, of each label or recording override, and of
//! each holding delivered by ERN deals (scope `delivery`, with its recordings).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::catalogs::HoldingColumns;
use super::schema::holding_versions;
use super::{DbConnection, DbError};
use crate::domain::recording::RecordingSet;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = holding_versions)]
pub struct HoldingVersionRow {
    pub id: String,
    pub catalog_id: String,
    /// `catalog`, `label`, `recording` or `delivery`.
    pub scope: String,
    /// '' for the catalog, the folded label, the ISRC, or a delivered holding's
    /// content key (`deals::delivered`).
    pub scope_key: String,
    /// The label as first written, the ISRC, the content key, or ''.
    pub display: String,
    pub version: i32,
    pub territories: String,
    pub usages: String,
    pub start_date: chrono::NaiveDate,
    pub end_date: chrono::NaiveDate,
    pub sublicensable: bool,
    pub removed: bool,
    pub changed_by: Option<String>,
    pub changed_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
    /// For a `delivery` holding: the recordings it covers (a `RecordingSet` of
    /// ISRC keys); null for every other scope.
    pub recordings: Option<Vec<u8>>,
}

impl HoldingVersionRow {
    /// The recordings of a delivered holding's version (`None` for every other scope).
    pub fn delivered_recordings(&self) -> Result<Option<RecordingSet>, DbError> {
        self.recordings
            .as_deref()
            .map(|bytes| {
                RecordingSet::from_bytes(bytes)
                    .map_err(|e| DbError::Corrupt(format!("delivered holding {}: {e}", self.id)))
            })
            .transpose()
    }

    pub fn columns(&self) -> HoldingColumns {
        HoldingColumns {
            territories: self.territories.clone(),
            usages: self.usages.clone(),
            start_date: self.start_date,
            end_date: self.end_date,
            sublicensable: self.sublicensable,
        }
    }
}

/// The current version of every holding of a catalog (the catalog's own first,
/// then overrides by scope and key), removed overrides left out.
pub fn current(
    conn: &mut DbConnection,
    catalog_id: &str,
) -> Result<Vec<HoldingVersionRow>, DbError> {
    Ok(holding_versions::table
        .filter(holding_versions::catalog_id.eq(catalog_id))
        .filter(holding_versions::superseded_at.is_null())
        .filter(holding_versions::removed.eq(false))
        .order((
            holding_versions::scope.asc(),
            holding_versions::scope_key.asc(),
        ))
        .select(HoldingVersionRow::as_select())
        .load(conn)?)
}

/// The current version of one holding (removed or not), if any.
pub fn current_of(
    conn: &mut DbConnection,
    catalog_id: &str,
    scope: &str,
    scope_key: &str,
) -> Result<Option<HoldingVersionRow>, DbError> {
    Ok(holding_versions::table
        .filter(holding_versions::catalog_id.eq(catalog_id))
        .filter(holding_versions::scope.eq(scope))
        .filter(holding_versions::scope_key.eq(scope_key))
        .filter(holding_versions::superseded_at.is_null())
        .select(HoldingVersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The current version (removed or not) of every holding delivered by ERN deals
/// to the catalog.
pub fn current_delivered(
    conn: &mut DbConnection,
    catalog_id: &str,
) -> Result<Vec<HoldingVersionRow>, DbError> {
    Ok(holding_versions::table
        .filter(holding_versions::catalog_id.eq(catalog_id))
        .filter(holding_versions::superseded_at.is_null())
        .filter(holding_versions::scope.eq("delivery"))
        .order(holding_versions::scope_key.asc())
        .select(HoldingVersionRow::as_select())
        .load(conn)?)
}

/// The version row with this id (current or not), if it belongs to the catalog.
pub fn find_version(
    conn: &mut DbConnection,
    catalog_id: &str,
    id: &str,
) -> Result<Option<HoldingVersionRow>, DbError> {
    Ok(holding_versions::table
        .find(id)
        .filter(holding_versions::catalog_id.eq(catalog_id))
        .select(HoldingVersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The current version row with this id, if it belongs to the catalog and is not
/// a removal.
pub fn find_current(
    conn: &mut DbConnection,
    catalog_id: &str,
    id: &str,
) -> Result<Option<HoldingVersionRow>, DbError> {
    Ok(find_version(conn, catalog_id, id)?
        .filter(|row| row.superseded_at.is_none() && !row.removed))
}

/// Writes a new version, superseding the current one of the same holding.
pub fn append(
    conn: &mut DbConnection,
    row: &HoldingVersionRow,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        holding_versions::table
            .filter(holding_versions::catalog_id.eq(&row.catalog_id))
            .filter(holding_versions::scope.eq(&row.scope))
            .filter(holding_versions::scope_key.eq(&row.scope_key))
            .filter(holding_versions::superseded_at.is_null()),
    )
    .set(holding_versions::superseded_at.eq(Some(at)))
    .execute(conn)?;
    diesel::insert_into(holding_versions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Rows per multi-row insert (16 binds each, well under SQLite's 32,766).
const INSERT_CHUNK: usize = 1_000;

/// Writes the first versions of holdings that have none yet (nothing to supersede).
pub fn insert_first_versions(
    conn: &mut DbConnection,
    rows: &[HoldingVersionRow],
) -> Result<(), DbError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert_batch!(conn, holding_versions::table, chunk)?;
    }
    Ok(())
}

/// Every version of every holding of a catalog, newest first, after the cursor
/// (a row id; ids are time-ordered).
pub fn history(
    conn: &mut DbConnection,
    catalog_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<HoldingVersionRow>, DbError> {
    let mut query = holding_versions::table
        .filter(holding_versions::catalog_id.eq(catalog_id))
        .order(holding_versions::id.desc())
        .limit(limit)
        .select(HoldingVersionRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(holding_versions::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?)
}
