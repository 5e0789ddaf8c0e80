//! Catalog import: CSV or NDJSON rows, streamed, validated, deduplicated and
//! bulk-written, with the per-catalog attribute index updated in the same
//! transaction.
//!
//! Policy (see `docs/api.md`, "Catalogs and imports"): every valid row is imported and every invalid
//! row is reported by line, field and reason; a file-level problem (wrong CSV
//! header, an upload that breaks off, a database error) imports nothing. The
//! whole import is one transaction, so nothing is ever half-written. An ISRC the
//! catalog already holds is skipped (counted, not an error), which makes a re-run
//! of the same file a no-op.

mod copy;
pub mod ern;
pub mod ern_folder;
mod ern_source;
pub mod generate;
mod rows;
pub mod usage_report;

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use chrono::NaiveDate;
use serde::Serialize;

use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, TrackRow};
use crate::db::{now, write_transaction, DbConnection, DbError};
use crate::deals::delivered::{self, DeliveredHoldings, Delivery};
use crate::domain::recording::RecordingSet;
use crate::domain::selector::{
    fold_key, AttributeKind, IndexedTrack, MemoryIndex, MemoryIndexBuilder,
};
use crate::domain::track::Track;

pub use copy::copy_tracks;
pub use rows::ImportFormat;

/// Rows written per bulk statement (bounded memory, few round trips).
const BATCH_ROWS: usize = 20_000;
/// Problems listed one by one in a report; past this only `rejected_rows` grows. A
/// thousand is more than anyone fixes in one pass and keeps the report bounded
/// (about 300 KB at most) whatever the file's size.
pub const MAX_REJECTED_LISTED: usize = 1_000;
/// A problem's message is cut to this many characters: a parser's message may quote
/// the offending value, and the report must not grow with a hostile row.
pub const MAX_MESSAGE_CHARS: usize = 200;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// 1-based line number in the file (the CSV header is line 1); for ERN, the
    /// line in the message where the element starts.
    pub line: u64,
    pub field: String,
    pub message: String,
    /// ERN only: the message's file name inside a batch archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// ERN only: the element path at fault
    /// (`/NewReleaseMessage/ResourceList/SoundRecording[4]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// New tracks added to the catalog.
    pub imported: u64,
    /// Rows whose ISRC the catalog already held before this import (left unchanged);
    /// for ERN, also a recording an earlier message of the same batch delivered.
    pub skipped_existing: u64,
    /// The first problems found, by line (at most 1,000 listed; see `rejected_rows`).
    pub rejected: Vec<RejectedRow>,
    /// How many rows were rejected in all.
    pub rejected_rows: u64,
    /// Whether `rejected` was cut at 1,000 entries.
    pub rejected_truncated: bool,
    /// The catalog's size after the import.
    pub catalog_track_count: u64,
    /// ERN only: what the messages' deals did to the catalog's holdings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdings: Option<DeliveredHoldings>,
}

impl ImportReport {
    fn push_rejected(&mut self, row: RejectedRow) {
        if self.rejected.len() < MAX_REJECTED_LISTED {
            self.rejected.push(RejectedRow {
                message: bounded_message(row.message),
                ..row
            });
        } else {
            self.rejected_truncated = true;
        }
    }
}

/// Where in an ERN delivery a row came from.
#[derive(Debug, Clone)]
struct Location {
    document: Option<String>,
    element: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is unusable (wrong header, not CSV/NDJSON); nothing imported.
    #[error("{message}")]
    File { field: String, message: String },
    /// Reading the input failed (an upload that broke off); nothing imported.
    #[error("the upload could not be read: {0}")]
    Read(String),
    #[error("the catalog cannot hold more than {0} tracks")]
    CatalogFull(u64),
    /// A catalog received through a grant holds exactly the grant's tracks.
    #[error("this catalog was received through grant {0}: its tracks are the grant's, nothing can be imported into it")]
    Received(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

/// Progress as the import goes: bytes consumed and rows seen so far.
pub trait Progress {
    fn advance(&mut self, bytes: u64, rows: u64);
}

impl Progress for () {
    fn advance(&mut self, _: u64, _: u64) {}
}

/// Imports `input` into `catalog` in one write transaction.
///
/// Two threads share the work so that parsing and writing overlap: a reader
/// thread parses, validates, deduplicates, numbers the tracks and indexes their
/// attributes, handing batches of finished rows over a small bounded channel; the
/// calling thread, which holds the connection, writes them (PostgreSQL `COPY`,
/// SQLite multi-row inserts) and finally merges the attribute index. A batch of
/// ERN messages has a third thread, which reads and parses the XML ahead of the
/// reader (`ern_source`).
pub fn import_tracks(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor_user_id: Option<&str>,
    input: impl BufRead + Send,
    format: ImportFormat,
    today: NaiveDate,
    progress: &mut (dyn Progress + Send),
) -> Result<ImportReport, ImportError> {
    write_transaction(conn, |conn| {
        catalogs::lock_catalog(conn, catalog.no)?;
        // Re-read under the lock: a concurrent import may have grown the catalog.
        let catalog = catalogs::find_catalog(conn, &catalog.id)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        if let Some(grant_id) = &catalog.backing_grant_id {
            return Err(ImportError::Received(grant_id.clone()));
        }
        let mut existing = if catalog.track_count > 0 {
            catalogs::isrc_keys(conn, catalog.no)?
        } else {
            Vec::new()
        };
        existing.sort_unstable();
        let (batches, written) = std::sync::mpsc::sync_channel::<Vec<TrackRow>>(2);
        let mut run = std::thread::scope(|scope| {
            let catalog = &catalog;
            let reader = scope.spawn(move || {
                read_rows(catalog, existing, input, format, today, progress, batches)
            });
            let mut write_result = Ok(());
            for batch in &written {
                write_result = catalogs::insert_tracks(conn, &batch);
                if write_result.is_err() {
                    break;
                }
            }
            // Dropping the receiver stops the reader at its next batch if writing failed.
            drop(written);
            let read_result = reader
                .join()
                .map_err(|_| ImportError::Internal("the import reader thread panicked".into()))?;
            write_result?;
            read_result
        })?;
        let deliveries = std::mem::take(&mut run.deliveries);
        let mut report = run.finish(conn, &catalog)?;
        if format.is_ern() {
            let catalog = catalogs::find_catalog(conn, &catalog.id)?
                .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
            let (holdings, problems) =
                delivered::apply(conn, &catalog, actor_user_id, deliveries, today, now())?;
            for problem in problems {
                report.rejected_rows += 1;
                report.push_rejected(RejectedRow {
                    line: problem.line,
                    field: problem.field,
                    message: problem.message,
                    document: (!problem.document.is_empty()).then_some(problem.document),
                    element: Some(problem.element),
                });
            }
            report.holdings = Some(holdings);
        }
        AuditEvent::new("catalog.imported", "catalog", Some(&catalog.id))
            .by(Some(&catalog.organization_id), actor_user_id)
            .after(serde_json::json!({
                "imported": report.imported,
                "skipped_existing": report.skipped_existing,
                "rejected_rows": report.rejected_rows,
                "format": format.name(),
            }))
            .write(conn)?;
        Ok(report)
    })
}

/// The reader thread: every row of the input through [`ImportRun::take`].
fn read_rows(
    catalog: &Catalog,
    existing: Vec<i64>,
    input: impl BufRead + Send,
    format: ImportFormat,
    today: NaiveDate,
    progress: &mut (dyn Progress + Send),
    batches: std::sync::mpsc::SyncSender<Vec<TrackRow>>,
) -> Result<ImportRun, ImportError> {
    let mut run = ImportRun::new(catalog, existing, batches);
    if format.is_ern() {
        ern_source::read_messages(&mut run, input, format, today, progress)?;
        run.close()?;
        return Ok(run);
    }
    let mut reader = rows::RowReader::new(input, format)?;
    while let Some(row) = reader.next_row()? {
        run.take(row, today)?;
        if run.rows_seen % 10_000 == 0 {
            progress.advance(reader.bytes_read(), run.rows_seen);
        }
    }
    progress.advance(reader.bytes_read(), run.rows_seen);
    run.close()?;
    Ok(run)
}

/// The state of one import between rows.
struct ImportRun {
    catalog_no: i64,
    next_id: u32,
    /// ISRC keys the catalog held before, sorted (8 bytes each: 120 MB at 15M).
    existing: Vec<i64>,
    seen_in_file: HashSet<i64>,
    batch: Vec<TrackRow>,
    /// The writing thread's inbox; dropped by [`ImportRun::close`] to end the writer's loop.
    writer: Option<std::sync::mpsc::SyncSender<Vec<TrackRow>>>,
    index: MemoryIndexBuilder,
    /// The first spelling seen of each (attribute, folded key), for display.
    display: HashMap<(AttributeKind, String), String>,
    report: ImportReport,
    rows_seen: u64,
    /// The recordings this import adds, merged into the catalog's at the end.
    recordings: Vec<i64>,
    /// ERN: what each message asks of the holdings, applied after the tracks.
    deliveries: Vec<Delivery>,
}

impl ImportRun {
    fn new(
        catalog: &Catalog,
        existing: Vec<i64>,
        writer: std::sync::mpsc::SyncSender<Vec<TrackRow>>,
    ) -> Self {
        Self {
            catalog_no: catalog.no,
            next_id: u32::try_from(catalog.track_count).unwrap_or(u32::MAX),
            existing,
            seen_in_file: HashSet::new(),
            batch: Vec::with_capacity(BATCH_ROWS),
            writer: Some(writer),
            index: MemoryIndex::builder(),
            display: HashMap::new(),
            report: ImportReport::default(),
            rows_seen: 0,
            recordings: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    fn reject(&mut self, line: u64, errors: Vec<(String, String)>) {
        self.reject_at(line, None, errors);
    }

    fn reject_at(&mut self, line: u64, at: Option<&Location>, errors: Vec<(String, String)>) {
        self.report.rejected_rows += 1;
        for (field, message) in errors {
            self.report.push_rejected(RejectedRow {
                line,
                field,
                message,
                document: at.and_then(|a| a.document.clone()),
                element: at.map(|a| a.element.clone()),
            });
        }
    }

    fn take(&mut self, row: rows::Row, today: NaiveDate) -> Result<(), ImportError> {
        self.take_at(row, None, today)
    }

    fn take_at(
        &mut self,
        row: rows::Row,
        at: Option<&Location>,
        today: NaiveDate,
    ) -> Result<(), ImportError> {
        self.rows_seen += 1;
        let input = match row.input {
            Ok(input) => input,
            Err(errors) => {
                self.reject_at(row.line, at, errors);
                return Ok(());
            }
        };
        let track = match input.validate(today) {
            Ok(track) => track,
            Err(errors) => {
                self.reject_at(
                    row.line,
                    at,
                    errors.0.into_iter().map(|e| (e.field, e.message)).collect(),
                );
                return Ok(());
            }
        };
        let key = track.isrc.key();
        if self.existing.binary_search(&key).is_ok() {
            self.report.skipped_existing += 1;
            return Ok(());
        }
        if at.is_some() && self.seen_in_file.contains(&key) {
            // ERN: a recording is delivered again by every release that has it
            // (the album and its single); the first delivery's metadata stands.
            self.report.skipped_existing += 1;
            return Ok(());
        }
        if !self.seen_in_file.insert(key) {
            self.reject(
                row.line,
                vec![(
                    "isrc".into(),
                    format!("{} appears earlier in this file", track.isrc),
                )],
            );
            return Ok(());
        }
        if self.next_id == u32::MAX || self.next_id > i32::MAX as u32 {
            return Err(ImportError::CatalogFull(i32::MAX as u64));
        }
        self.add(track, key);
        if self.batch.len() >= BATCH_ROWS {
            self.hand_over()?;
        }
        Ok(())
    }

    fn add(&mut self, track: Track, isrc_key: i64) {
        let id = self.next_id;
        self.next_id += 1;
        self.remember_display(AttributeKind::Label, &track.label);
        self.remember_display(AttributeKind::Genre, &track.genre);
        for artist in &track.artists {
            self.remember_display(AttributeKind::Artist, artist);
        }
        self.index.add_attributes(&IndexedTrack {
            id,
            isrc: &track.isrc,
            label: &track.label,
            artists: &track.artists,
            genre: &track.genre,
            release_date: track.release_date,
        });
        self.report.imported += 1;
        self.recordings.push(isrc_key);
        self.batch.push(TrackRow {
            catalog_no: self.catalog_no,
            track_id: id as i32,
            isrc_key,
            title: track.title,
            artists: track.artists.join(";"),
            label: track.label,
            genre: track.genre,
            release_date: track.release_date,
            duration_ms: i32::try_from(track.duration_ms).unwrap_or(i32::MAX),
            iswc: track.iswc.map(|i| i.as_str().to_string()),
        });
    }

    fn remember_display(&mut self, kind: AttributeKind, value: &str) {
        let key = fold_key(value);
        self.display
            .entry((kind, key))
            .or_insert_with(|| value.trim().to_string());
    }

    /// Passes the current batch to the writing thread (waits while it is two behind).
    fn hand_over(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
        // A closed channel means the writer failed; its error is the one reported.
        let stopped = || ImportError::Internal("the import writer stopped".into());
        self.writer
            .as_ref()
            .ok_or_else(stopped)?
            .send(batch)
            .map_err(|_| stopped())
    }

    /// Hands over the last batch and closes the channel, so the writer finishes.
    fn close(&mut self) -> Result<(), ImportError> {
        let result = self.hand_over();
        self.writer = None;
        result
    }

    fn finish(
        self,
        conn: &mut DbConnection,
        catalog: &Catalog,
    ) -> Result<ImportReport, ImportError> {
        let mut report = self.report;
        if report.imported > 0 {
            let mut index = self.index;
            if catalog.track_count > 0 && !catalogs::has_month_postings(conn, catalog.no)? {
                // The catalog was indexed before month postings existed. Merging
                // only the new tracks' months would leave its months incomplete
                // (and selectors would trust them), so its earlier tracks' months
                // are built from its date postings and merged in the same transaction.
                for (key, set) in catalogs::month_postings_from_stored_dates(conn, catalog.no)? {
                    index
                        .add_posting(AttributeKind::ReleaseMonth, &key, set)
                        .map_err(|e| DbError::Corrupt(e.to_string()))?;
                }
            }
            let mut display = self.display;
            let postings = index.build().into_postings().map(|(kind, key, set)| {
                let shown = display
                    .remove(&(kind, key.clone()))
                    .unwrap_or_else(|| key.clone());
                (kind.as_str().to_string(), key, shown, set)
            });
            catalogs::merge_postings(conn, catalog.no, postings)?;
            let mut recordings = catalogs::catalog_recordings(conn, catalog.no)?;
            recordings.union_with(&RecordingSet::from_keys(self.recordings));
            catalogs::set_catalog_recordings(conn, catalog.no, &recordings)?;
        }
        let total = catalog.track_count as u64 + report.imported;
        catalogs::set_track_count(conn, catalog.no, total as i64, now())?;
        report.catalog_track_count = total;
        Ok(report)
    }
}

impl From<crate::deals::DealError> for ImportError {
    fn from(e: crate::deals::DealError) -> Self {
        match e {
            crate::deals::DealError::Database(db) => ImportError::Database(db),
            other => ImportError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::Database(DbError::Query(e))
    }
}
/// A message cut to [`MAX_MESSAGE_CHARS`], marked with an ellipsis when cut.
fn bounded_message(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded_message("short".into()), "short");
        let exact = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(bounded_message(exact.clone()), exact);
        let cut = bounded_message("é".repeat(MAX_MESSAGE_CHARS * 50));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
