//! Releases received as DDEX ERN messages (`ern_releases`), and the bulk writes
//! of the per-recording holdings their deals give (`holding_versions`, scope
//! `recording`) at the speed of each backend: PostgreSQL `COPY`, SQLite one
//! prepared insert reused for every row of the transaction.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::catalogs::{escape_copy, HoldingColumns};
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

/// Writes these releases of a catalog, replacing what was stored under their keys.
pub fn save_releases(
    conn: &mut DbConnection,
    catalog_id: &str,
    rows: &[ErnReleaseRow],
) -> Result<(), DbError> {
    let keys: Vec<&str> = rows.iter().map(|r| r.release_key.as_str()).collect();
    for chunk in keys.chunks(CHUNK) {
        diesel::delete(
            ern_releases::table
                .filter(ern_releases::catalog_id.eq(catalog_id))
                .filter(ern_releases::release_key.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        match conn {
            DbConnection::Sqlite(lite) => diesel::insert_into(ern_releases::table)
                .values(chunk)
                .execute(lite)?,
            DbConnection::Postgres(pg) => diesel::insert_into(ern_releases::table)
                .values(chunk)
                .execute(pg)?,
        };
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

/// A new version of one recording override.
pub struct NewRecordingVersion<'a> {
    /// The ISRC (its scope key and display).
    pub isrc: &'a str,
    pub version: i32,
    pub columns: &'a HoldingColumns,
}

/// One `holding_versions` row, borrowed: what the SQLite insert binds.
#[derive(Insertable)]
#[diesel(table_name = holding_versions, treat_none_as_null = true)]
struct VersionInsert<'a> {
    id: &'a str,
    catalog_id: &'a str,
    scope: &'a str,
    scope_key: &'a str,
    display: &'a str,
    version: i32,
    territories: &'a str,
    usages: &'a str,
    start_date: NaiveDate,
    end_date: NaiveDate,
    sublicensable: bool,
    removed: bool,
    changed_by: Option<&'a str>,
    changed_at: NaiveDateTime,
    superseded_at: Option<NaiveDateTime>,
}

/// Writes new versions of recording overrides by `changed_by` at `at`, first
/// superseding the current versions of `superseding` (the ISRCs among them that
/// have one).
pub fn append_recording_versions(
    conn: &mut DbConnection,
    catalog_id: &str,
    changed_by: Option<&str>,
    versions: &[NewRecordingVersion<'_>],
    superseding: &[&str],
    at: NaiveDateTime,
) -> Result<(), DbError> {
    for chunk in superseding.chunks(CHUNK) {
        diesel::update(
            holding_versions::table
                .filter(holding_versions::catalog_id.eq(catalog_id))
                .filter(holding_versions::scope.eq("recording"))
                .filter(holding_versions::scope_key.eq_any(chunk))
                .filter(holding_versions::superseded_at.is_null()),
        )
        .set(holding_versions::superseded_at.eq(Some(at)))
        .execute(conn)?;
    }
    let mut id = uuid::Uuid::encode_buffer();
    match conn {
        DbConnection::Sqlite(lite) => {
            // One statement, prepared once (diesel caches it) and bound per row: far
            // cheaper than building and preparing multi-row statements of 15,000 binds.
            for v in versions {
                let row = VersionInsert {
                    id: uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id),
                    catalog_id,
                    scope: "recording",
                    scope_key: v.isrc,
                    display: v.isrc,
                    version: v.version,
                    territories: &v.columns.territories,
                    usages: &v.columns.usages,
                    start_date: v.columns.start_date,
                    end_date: v.columns.end_date,
                    sublicensable: v.columns.sublicensable,
                    removed: false,
                    changed_by,
                    changed_at: at,
                    superseded_at: None,
                };
                diesel::insert_into(holding_versions::table)
                    .values(&row)
                    .execute(lite)?;
            }
        }
        DbConnection::Postgres(pg) => {
            use diesel::ExecuteCopyFromDsl;
            for chunk in versions.chunks(COPY_CHUNK) {
                diesel::copy_from(holding_versions::table)
                    .from_raw_data(holding_versions::table, |out| {
                        write_versions_copy(out, catalog_id, changed_by, chunk, at)
                            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                    })
                    .execute(pg)?;
            }
        }
    }
    Ok(())
}

/// Rows per PostgreSQL `COPY` (bounded memory in libpq's buffer).
const COPY_CHUNK: usize = 50_000;

/// The versions in PostgreSQL COPY text format, columns in table order.
fn write_versions_copy(
    out: &mut dyn std::io::Write,
    catalog_id: &str,
    changed_by: Option<&str>,
    versions: &[NewRecordingVersion<'_>],
    at: NaiveDateTime,
) -> std::io::Result<()> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    // What every row shares, escaped once.
    let mut catalog = String::new();
    escape_copy(&mut catalog, catalog_id);
    let mut author = String::new();
    match changed_by {
        Some(user) => escape_copy(&mut author, user),
        None => author.push_str("\\N"),
    }
    let changed_at = at.format("%Y-%m-%d %H:%M:%S%.f").to_string();
    let mut id = uuid::Uuid::encode_buffer();
    let mut line = String::with_capacity(256);
    let mut last: Option<(*const HoldingColumns, String)> = None;
    for v in versions {
        // Recordings of one delivery share their columns: escaped once per change.
        if last.as_ref().map(|(p, _)| *p) != Some(v.columns as *const _) {
            let mut shared = String::new();
            escape_copy(&mut shared, &v.columns.territories);
            shared.push('\t');
            escape_copy(&mut shared, &v.columns.usages);
            let _ = write!(
                shared,
                "\t{}\t{}\t{}",
                v.columns.start_date,
                v.columns.end_date,
                if v.columns.sublicensable { 't' } else { 'f' }
            );
            last = Some((v.columns as *const _, shared));
        }
        let shared = last.as_ref().map_or("", |(_, s)| s.as_str());
        line.clear();
        line.push_str(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id));
        line.push('\t');
        line.push_str(&catalog);
        line.push_str("\trecording\t");
        escape_copy(&mut line, v.isrc);
        line.push('\t');
        escape_copy(&mut line, v.isrc);
        let _ = writeln!(
            line,
            "\t{}\t{shared}\tf\t{author}\t{changed_at}\t\\N",
            v.version
        );
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}
