//! Queries for catalogs, their tracks, the attribute index (postings) and slices.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::postings_cache::PostingsCache;
use super::schema::{catalog_postings, catalogs, slices, tracks};
use super::{DbConnection, DbError};
use crate::domain::recording::RecordingSet;
use crate::domain::selector::{month_postings_from_dates, AttributeKind, PostingRange};
use crate::domain::trackset::TrackSet;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = catalogs)]
pub struct Catalog {
    pub no: i64,
    pub id: String,
    pub organization_id: String,
    pub name: String,
    /// JSON array, as `Territories` serializes.
    pub territories: String,
    /// JSON array, as `Usages` serializes.
    pub usages: String,
    pub holding_start: NaiveDate,
    pub holding_end: NaiveDate,
    pub sublicensable: bool,
    pub track_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set for a catalog received through a grant: its holding is that grant.
    pub backing_grant_id: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = catalogs)]
pub struct NewCatalog {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub territories: String,
    pub usages: String,
    pub holding_start: NaiveDate,
    pub holding_end: NaiveDate,
    pub sublicensable: bool,
    pub track_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `RecordingSet` bytes: empty for a new catalog, grown by each import.
    pub recordings: Option<Vec<u8>>,
    pub backing_grant_id: Option<String>,
}

pub fn insert_catalog(conn: &mut DbConnection, new: &NewCatalog) -> Result<Catalog, DbError> {
    diesel::insert_into(catalogs::table)
        .values(new)
        .execute(conn)?;
    find_catalog(conn, &new.id)?.ok_or(DbError::Query(diesel::result::Error::NotFound))
}

/// Any organization's catalog, for public facts (offers show where a slice comes from).
pub fn find_catalog(conn: &mut DbConnection, id: &str) -> Result<Option<Catalog>, DbError> {
    Ok(catalogs::table
        .filter(catalogs::id.eq(id))
        .select(Catalog::as_select())
        .first(conn)
        .optional()?)
}

/// The catalog if `organization_id` owns it; None otherwise (answered as 404).
pub fn find_owned_catalog(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<Catalog>, DbError> {
    Ok(catalogs::table
        .filter(catalogs::id.eq(id))
        .filter(catalogs::organization_id.eq(organization_id))
        .select(Catalog::as_select())
        .first(conn)
        .optional()?)
}

/// Every catalog of an organization with its recordings (overlap reports).
pub fn catalogs_with_recordings(
    conn: &mut DbConnection,
    organization_id: &str,
) -> Result<Vec<(Catalog, super::StoredRecordings)>, DbError> {
    Ok(catalogs::table
        .filter(catalogs::organization_id.eq(organization_id))
        .order(catalogs::id.asc())
        .select((Catalog::as_select(), catalogs::recordings))
        .load(conn)?)
}

/// The catalogs received through a grant (at most one: the column is unique).
pub fn catalogs_backed_by(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Vec<Catalog>, DbError> {
    Ok(catalogs::table
        .filter(catalogs::backing_grant_id.eq(grant_id))
        .select(Catalog::as_select())
        .load(conn)?)
}

/// Replaces a catalog's self-declared holding columns (its current version).
pub fn set_holding(
    conn: &mut DbConnection,
    no: i64,
    holding: &HoldingColumns,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(catalogs::table.find(no))
        .set((
            catalogs::territories.eq(&holding.territories),
            catalogs::usages.eq(&holding.usages),
            catalogs::holding_start.eq(holding.start_date),
            catalogs::holding_end.eq(holding.end_date),
            catalogs::sublicensable.eq(holding.sublicensable),
            catalogs::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A holding as stored: territories and usages as JSON, dates, sublicensable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingColumns {
    pub territories: String,
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub sublicensable: bool,
}

/// The number of an organization's first catalog (seeding and tools).
pub fn find_catalog_of(
    conn: &mut DbConnection,
    organization_id: &str,
) -> Result<Option<i64>, DbError> {
    Ok(catalogs::table
        .filter(catalogs::organization_id.eq(organization_id))
        .order(catalogs::id.asc())
        .select(catalogs::no)
        .first(conn)
        .optional()?)
}

pub fn list_catalogs(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Catalog>, DbError> {
    let mut query = catalogs::table
        .filter(catalogs::organization_id.eq(organization_id))
        .select(Catalog::as_select())
        .order(catalogs::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(catalogs::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Serializes writers of one catalog (imports) until the transaction ends: a no-op
/// update takes the row lock on PostgreSQL; SQLite's IMMEDIATE transaction already
/// serializes writers.
pub fn lock_catalog(conn: &mut DbConnection, no: i64) -> Result<(), DbError> {
    diesel::update(catalogs::table.find(no))
        .set(catalogs::track_count.eq(catalogs::track_count))
        .execute(conn)?;
    Ok(())
}

/// The catalog's postings version (0 for a catalog that does not exist):
/// bumped by every write to its postings, see [`merge_postings`].
pub fn postings_version(conn: &mut DbConnection, no: i64) -> Result<i64, DbError> {
    Ok(catalogs::table
        .find(no)
        .select(catalogs::postings_version)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

pub fn set_track_count(
    conn: &mut DbConnection,
    no: i64,
    count: i64,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(catalogs::table.find(no))
        .set((catalogs::track_count.eq(count), catalogs::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

// ---- tracks ----------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tracks)]
pub struct TrackRow {
    pub catalog_no: i64,
    pub track_id: i32,
    pub isrc_key: i64,
    pub title: String,
    /// Artists joined with `;` (the import splits on `;`, so no name contains one).
    pub artists: String,
    pub label: String,
    pub genre: String,
    pub release_date: NaiveDate,
    pub duration_ms: i32,
    pub iswc: Option<String>,
}

/// Every ISRC key of a catalog, for duplicate detection during an import.
pub fn isrc_keys(conn: &mut DbConnection, catalog_no: i64) -> Result<Vec<i64>, DbError> {
    Ok(tracks::table
        .filter(tracks::catalog_no.eq(catalog_no))
        .select(tracks::isrc_key)
        .load(conn)?)
}

/// Rows per SQLite INSERT statement: SQLite allows 32,766 bound parameters.
const SQLITE_ROWS_PER_INSERT: usize = 3_000;

/// Bulk-writes new tracks at the speed of each backend: PostgreSQL `COPY`,
/// SQLite multi-row prepared inserts. Runs inside the caller's transaction.
pub fn insert_tracks(conn: &mut DbConnection, rows: &[TrackRow]) -> Result<(), DbError> {
    match conn {
        DbConnection::Sqlite(lite) => {
            for chunk in rows.chunks(SQLITE_ROWS_PER_INSERT) {
                diesel::insert_into(tracks::table)
                    .values(chunk)
                    .execute(lite)?;
            }
        }
        DbConnection::Postgres(pg) => {
            use diesel::ExecuteCopyFromDsl;
            diesel::copy_from(tracks::table)
                .from_raw_data(tracks::table, |out| {
                    write_copy_text(out, rows)
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                })
                .execute(pg)?;
        }
    }
    Ok(())
}

/// PostgreSQL COPY text format: tab-separated, `\N` for NULL, backslash escapes.
fn write_copy_text(out: &mut dyn std::io::Write, rows: &[TrackRow]) -> std::io::Result<()> {
    use std::io::Write as _;
    // libpq gets one call per buffer, not per row: far fewer round trips through the FFI.
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut line = String::with_capacity(256);
    for r in rows {
        use std::fmt::Write as _;
        line.clear();
        let _ = write!(line, "{}\t{}\t{}\t", r.catalog_no, r.track_id, r.isrc_key);
        for field in [&r.title, &r.artists, &r.label, &r.genre] {
            escape_copy(&mut line, field);
            line.push('\t');
        }
        let _ = write!(line, "{}\t{}\t", r.release_date, r.duration_ms);
        match &r.iswc {
            Some(iswc) => escape_copy(&mut line, iswc),
            None => line.push_str("\\N"),
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

pub(crate) fn escape_copy(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// The tracks with these ids, in id order (a page of a bitmap becomes rows).
pub fn tracks_by_ids(
    conn: &mut DbConnection,
    catalog_no: i64,
    ids: &[u32],
) -> Result<Vec<TrackRow>, DbError> {
    let ids: Vec<i32> = ids
        .iter()
        .filter_map(|&id| i32::try_from(id).ok())
        .collect();
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(900) {
        rows.extend(
            tracks::table
                .filter(tracks::catalog_no.eq(catalog_no))
                .filter(tracks::track_id.eq_any(chunk))
                .order(tracks::track_id.asc())
                .select(TrackRow::as_select())
                .load(conn)?,
        );
    }
    rows.sort_by_key(|r| r.track_id);
    Ok(rows)
}

pub fn track_by_isrc_key(
    conn: &mut DbConnection,
    catalog_no: i64,
    isrc_key: i64,
) -> Result<Option<TrackRow>, DbError> {
    Ok(tracks::table
        .filter(tracks::catalog_no.eq(catalog_no))
        .filter(tracks::isrc_key.eq(isrc_key))
        .select(TrackRow::as_select())
        .first(conn)
        .optional()?)
}

/// Track ids of the given ISRC keys that exist in the catalog.
pub fn track_ids_for_isrc_keys(
    conn: &mut DbConnection,
    catalog_no: i64,
    keys: &[i64],
) -> Result<Vec<(i64, i32)>, DbError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(900) {
        found.extend(
            tracks::table
                .filter(tracks::catalog_no.eq(catalog_no))
                .filter(tracks::isrc_key.eq_any(chunk))
                .select((tracks::isrc_key, tracks::track_id))
                .load::<(i64, i32)>(conn)?,
        );
    }
    Ok(found)
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Tracks whose title contains `words` (case-insensitive), in id order after
/// the cursor. A scan bounded by `limit` matches; selective filters go through postings.
pub fn search_titles(
    conn: &mut DbConnection,
    catalog_no: i64,
    words: &str,
    after: Option<u32>,
    limit: i64,
) -> Result<Vec<TrackRow>, DbError> {
    let pattern = format!(
        "%{}%",
        words
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let after = after.and_then(|a| i32::try_from(a).ok()).unwrap_or(-1);
    Ok(tracks::table
        .filter(tracks::catalog_no.eq(catalog_no))
        .filter(tracks::track_id.gt(after))
        .filter(
            lower(tracks::title)
                .like(pattern.to_lowercase())
                .escape('\\'),
        )
        .order(tracks::track_id.asc())
        .limit(limit)
        .select(TrackRow::as_select())
        .load(conn)?)
}

// ---- postings ---------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = catalog_postings)]
pub struct PostingRow {
    pub catalog_no: i64,
    pub kind: String,
    pub posting_key: String,
    pub display: String,
    pub track_count: i64,
    pub bitmap: Vec<u8>,
}

/// The postings rows a selector needs (exact keys, or key ranges for dates).
pub fn load_postings(
    conn: &mut DbConnection,
    catalog_no: i64,
    ranges: &[PostingRange],
) -> Result<Vec<PostingRow>, DbError> {
    let mut rows = Vec::new();
    for range in ranges {
        let query = catalog_postings::table
            .filter(catalog_postings::catalog_no.eq(catalog_no))
            .filter(catalog_postings::kind.eq(range.kind.as_str()))
            .select(PostingRow::as_select());
        if range.from_key == range.to_key {
            rows.extend(
                query
                    .filter(catalog_postings::posting_key.eq(&range.from_key))
                    .load(conn)?,
            );
        } else {
            rows.extend(
                query
                    .filter(catalog_postings::posting_key.ge(&range.from_key))
                    .filter(catalog_postings::posting_key.le(&range.to_key))
                    .load(conn)?,
            );
        }
    }
    Ok(rows)
}

fn parse_kind(kind: &str) -> Result<AttributeKind, DbError> {
    super::stored("catalog_postings.kind", kind)
}

/// The postings in `ranges`, decoded: hits from `cache` at `version`, the rest
/// fetched in one query per kind and cached. A key range's keys are listed
/// first (keys only, no bitmaps) so that only its missing postings are fetched.
pub fn cached_postings(
    conn: &mut DbConnection,
    cache: &PostingsCache,
    catalog_no: i64,
    version: i64,
    ranges: &[PostingRange],
) -> Result<Vec<(AttributeKind, String, std::sync::Arc<TrackSet>)>, DbError> {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    if !cache.is_enabled() {
        return load_postings(conn, catalog_no, ranges)?
            .into_iter()
            .map(|row| {
                let set = Arc::new(decode_set(&row.bitmap)?);
                Ok((parse_kind(&row.kind)?, row.posting_key, set))
            })
            .collect();
    }
    let mut found = Vec::new();
    let mut missing: BTreeMap<AttributeKind, Vec<String>> = BTreeMap::new();
    let mut look_up =
        |kind: AttributeKind, key: String| match cache.get(catalog_no, version, kind, &key) {
            Some(set) => found.push((kind, key, set)),
            None => missing.entry(kind).or_default().push(key),
        };
    for range in ranges {
        if range.from_key == range.to_key {
            look_up(range.kind, range.from_key.clone());
        } else if range.from_key <= range.to_key {
            let keys: Vec<String> = catalog_postings::table
                .filter(catalog_postings::catalog_no.eq(catalog_no))
                .filter(catalog_postings::kind.eq(range.kind.as_str()))
                .filter(catalog_postings::posting_key.ge(&range.from_key))
                .filter(catalog_postings::posting_key.le(&range.to_key))
                .select(catalog_postings::posting_key)
                .load(conn)?;
            for key in keys {
                look_up(range.kind, key);
            }
        }
    }
    for (kind, keys) in missing {
        for chunk in keys.chunks(500) {
            let rows: Vec<(String, Vec<u8>)> = catalog_postings::table
                .filter(catalog_postings::catalog_no.eq(catalog_no))
                .filter(catalog_postings::kind.eq(kind.as_str()))
                .filter(catalog_postings::posting_key.eq_any(chunk))
                .select((catalog_postings::posting_key, catalog_postings::bitmap))
                .load(conn)?;
            for (key, bytes) in rows {
                let set = Arc::new(decode_set(&bytes)?);
                cache.insert(catalog_no, version, kind, &key, set.clone());
                found.push((kind, key, set));
            }
        }
    }
    Ok(found)
}

/// Loads every posting of a catalog into the cache, tagged with its current
/// version, so the first selector on this node does not pay PostgreSQL's TOAST
/// reads (docs/performance.md). Stops once the cache holds half its budget, so
/// warming never evicts what selectors are using. Returns the postings loaded.
pub fn warm_postings(
    conn: &mut DbConnection,
    cache: &PostingsCache,
    catalog_no: i64,
) -> Result<usize, DbError> {
    if !cache.is_enabled() {
        return Ok(0);
    }
    // Read before any posting, as in `load_selector_index`.
    let version = postings_version(conn, catalog_no)?;
    let mut loaded = 0;
    for kind in AttributeKind::ALL {
        let mut after = String::new();
        loop {
            if cache.weight_bytes() >= cache.budget_bytes() / 2 {
                return Ok(loaded);
            }
            // Pages by key, so a catalog's postings are never all in flight at once.
            let rows: Vec<(String, Vec<u8>)> = catalog_postings::table
                .filter(catalog_postings::catalog_no.eq(catalog_no))
                .filter(catalog_postings::kind.eq(kind.as_str()))
                .filter(catalog_postings::posting_key.gt(&after))
                .order(catalog_postings::posting_key.asc())
                .limit(500)
                .select((catalog_postings::posting_key, catalog_postings::bitmap))
                .load(conn)?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = last.clone();
            for (key, bytes) in rows {
                let set = std::sync::Arc::new(decode_set(&bytes)?);
                cache.insert(catalog_no, version, kind, &key, set);
                loaded += 1;
            }
        }
    }
    Ok(loaded)
}

/// Catalog numbers, biggest catalogs first: the order `serve` warms them in.
pub fn catalogs_by_size(conn: &mut DbConnection) -> Result<Vec<i64>, DbError> {
    Ok(catalogs::table
        .order((catalogs::track_count.desc(), catalogs::no.asc()))
        .select(catalogs::no)
        .load(conn)?)
}

/// Whether the catalog's index has month postings. A catalog indexed before
/// they existed has none until its next import backfills them (see
/// [`month_postings_from_stored_dates`]); an empty catalog has none either.
/// Either a catalog has every month posting or none, so one row tells.
pub fn has_month_postings(conn: &mut DbConnection, catalog_no: i64) -> Result<bool, DbError> {
    Ok(catalog_postings::table
        .filter(catalog_postings::catalog_no.eq(catalog_no))
        .filter(catalog_postings::kind.eq(AttributeKind::ReleaseMonth.as_str()))
        .select(catalog_postings::posting_key)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// The month postings of a catalog's stored tracks, built from its date
/// postings one year at a time (so at most a year of day bitmaps is held):
/// what an import merges in when the catalog has no month postings yet.
pub fn month_postings_from_stored_dates(
    conn: &mut DbConnection,
    catalog_no: i64,
) -> Result<Vec<(String, TrackSet)>, DbError> {
    let years: Vec<String> = catalog_postings::table
        .filter(catalog_postings::catalog_no.eq(catalog_no))
        .filter(catalog_postings::kind.eq(AttributeKind::ReleaseYear.as_str()))
        .order(catalog_postings::posting_key.asc())
        .select(catalog_postings::posting_key)
        .load(conn)?;
    let mut months = Vec::new();
    for year in years {
        let days: Vec<(String, Vec<u8>)> = catalog_postings::table
            .filter(catalog_postings::catalog_no.eq(catalog_no))
            .filter(catalog_postings::kind.eq(AttributeKind::ReleaseDate.as_str()))
            .filter(catalog_postings::posting_key.ge(format!("{year}-01-01")))
            .filter(catalog_postings::posting_key.le(format!("{year}-12-31")))
            .select((catalog_postings::posting_key, catalog_postings::bitmap))
            .load(conn)?;
        let days = days
            .into_iter()
            .map(|(key, bytes)| Ok((key, decode_set(&bytes)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        months
            .extend(month_postings_from_dates(days).map_err(|e| DbError::Corrupt(e.to_string()))?);
    }
    Ok(months)
}

/// The catalog's whole track set (the `all` posting).
pub fn catalog_tracks(conn: &mut DbConnection, catalog_no: i64) -> Result<TrackSet, DbError> {
    let bytes: Option<Vec<u8>> = catalog_postings::table
        .filter(catalog_postings::catalog_no.eq(catalog_no))
        .filter(catalog_postings::kind.eq("all"))
        .select(catalog_postings::bitmap)
        .first(conn)
        .optional()?;
    decode_set(bytes.as_deref().unwrap_or(&[]))
}

/// A stored recording set; a missing one (a row the startup backfill has not
/// reached, which cannot happen once the server runs) is corrupt, never empty.
pub fn decode_recordings(
    bytes: Option<&[u8]>,
    what: &str,
    id: &str,
) -> Result<RecordingSet, DbError> {
    let bytes = bytes.ok_or_else(|| DbError::Corrupt(format!("{what} {id} has no recordings")))?;
    RecordingSet::from_bytes(bytes)
        .map_err(|e| DbError::Corrupt(format!("{what} {id}: stored recordings: {e}")))
}

/// The ISRC keys of these tracks of a catalog, as a recording set. Runs of
/// consecutive ids (whole labels imported together) are read as primary-key
/// ranges, scattered ids in batches.
pub fn recordings_of_tracks(
    conn: &mut DbConnection,
    catalog_no: i64,
    ids: &TrackSet,
) -> Result<RecordingSet, DbError> {
    const MIN_RUN: u32 = 64;
    let batch = match conn {
        DbConnection::Sqlite(_) => 900,
        DbConnection::Postgres(_) => 20_000,
    };
    // Split the ids into long runs (read as ranges) and the rest (read by id).
    let mut ranges: Vec<(i32, i32)> = Vec::new();
    let mut scattered: Vec<i32> = Vec::new();
    let mut take = |(start, end): (u32, u32)| {
        let (Ok(lo), Ok(hi)) = (i32::try_from(start), i32::try_from(end)) else {
            return; // no stored track has an id above i32::MAX
        };
        if end - start + 1 >= MIN_RUN {
            ranges.push((lo, hi));
        } else {
            scattered.extend(lo..=hi);
        }
    };
    let mut run: Option<(u32, u32)> = None;
    for id in ids.iter() {
        run = match run {
            Some((start, end)) if end + 1 == id => Some((start, id)),
            Some(done) => {
                take(done);
                Some((id, id))
            }
            None => Some((id, id)),
        };
    }
    if let Some(done) = run {
        take(done);
    }
    let mut keys: Vec<i64> = Vec::with_capacity(ids.len() as usize);
    for (lo, hi) in ranges {
        keys.extend(
            tracks::table
                .filter(tracks::catalog_no.eq(catalog_no))
                .filter(tracks::track_id.between(lo, hi))
                .select(tracks::isrc_key)
                .load::<i64>(conn)?,
        );
    }
    for chunk in scattered.chunks(batch) {
        keys.extend(
            tracks::table
                .filter(tracks::catalog_no.eq(catalog_no))
                .filter(tracks::track_id.eq_any(chunk))
                .select(tracks::isrc_key)
                .load::<i64>(conn)?,
        );
    }
    Ok(RecordingSet::from_keys(keys))
}

/// The catalog's recordings (every ISRC it holds).
pub fn catalog_recordings(conn: &mut DbConnection, no: i64) -> Result<RecordingSet, DbError> {
    let bytes: Option<Vec<u8>> = catalogs::table
        .find(no)
        .select(catalogs::recordings)
        .first(conn)?;
    decode_recordings(bytes.as_deref(), "catalog", &no.to_string())
}

/// Replaces the catalog's recording set (in the import's transaction).
pub fn set_catalog_recordings(
    conn: &mut DbConnection,
    no: i64,
    set: &RecordingSet,
) -> Result<(), DbError> {
    diesel::update(catalogs::table.find(no))
        .set(catalogs::recordings.eq(Some(set.to_bytes())))
        .execute(conn)?;
    Ok(())
}

pub fn decode_set(bytes: &[u8]) -> Result<TrackSet, DbError> {
    if bytes.is_empty() {
        return Ok(TrackSet::new());
    }
    TrackSet::from_bytes(bytes).map_err(|e| DbError::Corrupt(format!("stored track set: {e}")))
}

/// Unites new postings into the stored ones, in bulk: the stored rows of the
/// touched keys are read and deleted in chunks, then every merged row is written
/// with multi-row inserts. (Per-key round trips cost ~14 s per million tracks on
/// PostgreSQL, for ~70,000 label/artist/date keys.)
pub fn merge_postings(
    conn: &mut DbConnection,
    catalog_no: i64,
    postings: impl IntoIterator<Item = (String, String, String, TrackSet)>,
) -> Result<(), DbError> {
    use std::collections::BTreeMap;
    // In the caller's transaction, with the postings it writes: nodes caching
    // decoded postings (see `postings_cache`) see the new version exactly
    // when they can see the new postings. Every postings write goes through here.
    diesel::update(catalogs::table.find(catalog_no))
        .set(catalogs::postings_version.eq(catalogs::postings_version + 1))
        .execute(conn)?;
    // Owned: the import's index is moved in, not copied (at 15M tracks it is hundreds of MB).
    let mut merged: BTreeMap<(String, String), (String, TrackSet)> = BTreeMap::new();
    for (kind, key, display, set) in postings {
        merged.insert((kind, key), (display, set));
    }
    let mut by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (kind, key) in merged.keys() {
        by_kind.entry(kind.as_str()).or_default().push(key.as_str());
    }
    let mut stored = Vec::new();
    for (kind, keys) in &by_kind {
        for chunk in keys.chunks(500) {
            let filter = catalog_postings::catalog_no
                .eq(catalog_no)
                .and(catalog_postings::kind.eq(*kind))
                .and(catalog_postings::posting_key.eq_any(chunk));
            stored.extend(
                catalog_postings::table
                    .filter(filter.clone())
                    .select(PostingRow::as_select())
                    .load(conn)?,
            );
            diesel::delete(catalog_postings::table.filter(filter)).execute(conn)?;
        }
    }
    for row in stored {
        if let Some((display, set)) = merged.get_mut(&(row.kind, row.posting_key)) {
            // Keep the spelling first seen.
            *display = row.display;
            set.union_with(&decode_set(&row.bitmap)?);
        }
    }
    // Serialized and written 1,000 rows at a time, each chunk dropped before the next.
    let mut entries = merged.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<PostingRow> = entries
            .by_ref()
            .take(1_000)
            .map(|((kind, posting_key), (display, set))| PostingRow {
                catalog_no,
                kind,
                posting_key,
                display,
                track_count: set.len() as i64,
                bitmap: set.to_bytes(),
            })
            .collect();
        insert_batch!(conn, catalog_postings::table, &chunk)?;
    }
    Ok(())
}

/// The tracks of one label of a catalog (`label_key` folded as the index folds it).
pub fn label_tracks(
    conn: &mut DbConnection,
    catalog_no: i64,
    label_key: &str,
) -> Result<TrackSet, DbError> {
    let bytes: Option<Vec<u8>> = catalog_postings::table
        .filter(catalog_postings::catalog_no.eq(catalog_no))
        .filter(catalog_postings::kind.eq(AttributeKind::Label.as_str()))
        .filter(catalog_postings::posting_key.eq(label_key))
        .select(catalog_postings::bitmap)
        .first(conn)
        .optional()?;
    decode_set(bytes.as_deref().unwrap_or(&[]))
}

/// The biggest keys of one attribute kind, by track count (facets, samples).
pub fn top_postings(
    conn: &mut DbConnection,
    catalog_no: i64,
    kind: &str,
    limit: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(catalog_postings::table
        .filter(catalog_postings::catalog_no.eq(catalog_no))
        .filter(catalog_postings::kind.eq(kind))
        .order((
            catalog_postings::track_count.desc(),
            catalog_postings::posting_key.asc(),
        ))
        .limit(limit)
        .select((catalog_postings::display, catalog_postings::track_count))
        .load(conn)?)
}

// ---- slices ----------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = slices)]
pub struct Slice {
    pub id: String,
    pub catalog_id: String,
    pub organization_id: String,
    pub name: String,
    /// The normalized selector, JSON.
    pub selector: String,
    pub track_count: i64,
    pub catalog_track_count: i64,
    /// The materialized track set, roaring portable serialization.
    pub bitmap: Vec<u8>,
    /// SHA-256 over the slice's sorted ISRCs (`RecordingSet::content_hash`).
    pub content_hash: String,
    pub frozen_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The slice's recordings (`RecordingSet` bytes); NULL only before the backfill.
    pub recordings: Option<Vec<u8>>,
}

impl Slice {
    /// The slice's recordings, by ISRC.
    pub fn recording_set(&self) -> Result<RecordingSet, DbError> {
        decode_recordings(self.recordings.as_deref(), "slice", &self.id)
    }
}

pub fn insert_slice(conn: &mut DbConnection, slice: &Slice) -> Result<(), DbError> {
    diesel::insert_into(slices::table)
        .values(slice)
        .execute(conn)?;
    Ok(())
}

pub fn find_slice(conn: &mut DbConnection, id: &str) -> Result<Option<Slice>, DbError> {
    Ok(slices::table
        .find(id)
        .select(Slice::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_owned_slice(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<Slice>, DbError> {
    Ok(slices::table
        .find(id)
        .filter(slices::organization_id.eq(organization_id))
        .select(Slice::as_select())
        .first(conn)
        .optional()?)
}

/// What execution reads of a slice: not its sets, which are 5 MB at 1.5M
/// tracks; its recordings are read through `slice_recordings` (and kept per node
/// by content hash), its track ids only when a label override needs them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = slices)]
pub struct SliceHead {
    pub id: String,
    pub catalog_id: String,
    pub organization_id: String,
    pub track_count: i64,
    /// SHA-256 over the slice's sorted ISRCs: names its recording set exactly.
    pub content_hash: String,
}

pub fn find_owned_slice_head(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<SliceHead>, DbError> {
    Ok(slices::table
        .find(id)
        .filter(slices::organization_id.eq(organization_id))
        .select(SliceHead::as_select())
        .first(conn)
        .optional()?)
}

/// A slice's track ids (roaring portable serialization).
pub fn slice_bitmap(conn: &mut DbConnection, id: &str) -> Result<Vec<u8>, DbError> {
    Ok(slices::table.find(id).select(slices::bitmap).first(conn)?)
}

/// A slice's recordings, decoded.
pub fn slice_recordings(conn: &mut DbConnection, id: &str) -> Result<RecordingSet, DbError> {
    let bytes: Option<Vec<u8>> = slices::table
        .find(id)
        .select(slices::recordings)
        .first(conn)?;
    decode_recordings(bytes.as_deref(), "slice", id)
}

pub fn list_slices(
    conn: &mut DbConnection,
    organization_id: &str,
    catalog_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Slice>, DbError> {
    let mut query = slices::table
        .filter(slices::organization_id.eq(organization_id))
        .filter(slices::catalog_id.eq(catalog_id))
        .order(slices::id.asc())
        .limit(limit)
        .select(Slice::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(slices::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Freezes a slice (used in a signed deal): its track set may never change again.
pub fn freeze_slice(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(slices::table.find(id).filter(slices::frozen_at.is_null()))
        .set(slices::frozen_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Loads exactly the part of a catalog's index that `selector` reads: its
/// postings (from `cache` when it holds them at the catalog's current
/// postings version, from the database otherwise) and its ISRCs resolved to
/// track ids.
pub fn load_selector_index(
    conn: &mut DbConnection,
    cache: &PostingsCache,
    catalog_no: i64,
    selector: &crate::domain::selector::ValidatedSelector,
) -> Result<crate::domain::selector::MemoryIndex, DbError> {
    use crate::domain::isrc::Isrc;
    use crate::domain::selector::{DatePostings, MemoryIndex};
    // Read before any posting (see `postings_cache`): one primary-key lookup.
    let version = if cache.is_enabled() {
        postings_version(conn, catalog_no)?
    } else {
        0
    };
    let mut builder = MemoryIndex::builder();
    // One indexed lookup, and only for date ranges: catalogs indexed before
    // month postings existed are read by years and days instead.
    let dates = if selector.has_date_filter() && !has_month_postings(conn, catalog_no)? {
        DatePostings::YearsDays
    } else {
        DatePostings::YearsMonthsDays
    };
    builder.date_postings(dates);
    let ranges = selector.needed_postings(dates);
    for (kind, key, set) in cached_postings(conn, cache, catalog_no, version, &ranges)? {
        builder
            .add_shared_posting(kind, &key, set)
            .map_err(|e| DbError::Corrupt(e.to_string()))?;
    }
    let keys: Vec<i64> = selector
        .include_isrcs()
        .iter()
        .chain(selector.exclude_isrcs())
        .map(Isrc::key)
        .collect();
    for (key, id) in track_ids_for_isrc_keys(conn, catalog_no, &keys)? {
        if let (Some(isrc), Ok(id)) = (Isrc::from_key(key), u32::try_from(id)) {
            builder.add_isrc(isrc, id);
        }
    }
    Ok(builder.build())
}
