//! CSV files the API hands out, written so that a spreadsheet opening them never
//! evaluates a cell (CSV injection, CWE-1236): a licensor's track titles reach the
//! licensee's spreadsheet, and `=HYPERLINK(…)` or `@SUM(…)` must arrive as text.
//!
//! The rule (documented in `docs/api.md`, "CSV exports"): a cell whose first character
//! is `=`, `+`, `-`, `@`, a tab, a carriage return or `'` gets one `'` in front. The value
//! is recoverable: drop one leading `'`, if there is one. (A genuine leading `'` is
//! doubled, so the rule is unambiguous; spreadsheets show a leading `'` as "this is text"
//! and display the rest unchanged.) Quoting is the `csv` crate's.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::{web, HttpResponse};

use super::catalogs::stored_isrc;
use super::problem::ApiError;
use crate::db::catalogs::{self, TrackRow};
use crate::db::Db;
use crate::domain::trackset::TrackSet;

/// First characters a spreadsheet may read as the start of a formula, plus the
/// neutralizing mark itself (so a value that already starts with it stays recoverable).
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// The cell as written: `'` in front when a spreadsheet would evaluate it.
pub fn spreadsheet_safe(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The original value of a cell written by [`spreadsheet_safe`].
pub fn recover(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// A CSV file being written: every cell neutralized, quoted as needed, rows ending in `\n`.
pub struct SafeCsv(csv::Writer<Vec<u8>>);

impl SafeCsv {
    pub fn new() -> Self {
        SafeCsv(
            csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new()),
        )
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<(), csv::Error> {
        for cell in cells {
            self.0.write_field(spreadsheet_safe(cell).as_bytes())?;
        }
        // An empty record after fields ends the current one.
        self.0.write_record(None::<&[u8]>)
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, csv::Error> {
        self.0
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }
}

impl Default for SafeCsv {
    fn default() -> Self {
        SafeCsv::new()
    }
}

// ---- track lists -----------------------------------------------------------------

/// A column of a track-list export, named in the header as in the import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackColumn {
    Isrc,
    Title,
    /// Joined with `;`, as the import reads them.
    Artists,
    Label,
    Genre,
    ReleaseDate,
    DurationMs,
}

impl TrackColumn {
    pub fn header(self) -> &'static str {
        match self {
            TrackColumn::Isrc => "isrc",
            TrackColumn::Title => "title",
            TrackColumn::Artists => "artists",
            TrackColumn::Label => "label",
            TrackColumn::Genre => "genre",
            TrackColumn::ReleaseDate => "release_date",
            TrackColumn::DurationMs => "duration_ms",
        }
    }
}

/// `GET /grants/{id}/tracks.csv`: `isrc,title,artists,label,release_date`.
pub const GRANT_COLUMNS: &[TrackColumn] = &[
    TrackColumn::Isrc,
    TrackColumn::Title,
    TrackColumn::Artists,
    TrackColumn::Label,
    TrackColumn::ReleaseDate,
];

/// The offer and deal track lists: every column a licensee checks before signing,
/// `isrc,title,artists,label,genre,release_date,duration_ms` (the import's order).
pub const TRACK_COLUMNS: &[TrackColumn] = &[
    TrackColumn::Isrc,
    TrackColumn::Title,
    TrackColumn::Artists,
    TrackColumn::Label,
    TrackColumn::Genre,
    TrackColumn::ReleaseDate,
    TrackColumn::DurationMs,
];

/// Tracks read and written per chunk of a streamed export.
pub const TRACKS_PER_CHUNK: usize = 5_000;

/// Every track of `set` (ids of the catalog numbered `catalog_no`) as a CSV download
/// named `filename`, in track order: a header row, then one row per track. The rows are
/// read and written [`TRACKS_PER_CHUNK`] at a time as the client reads, so memory stays
/// flat whatever the size of the set. A database error ends the body early (the status
/// line is already sent) and is logged.
pub fn tracks_csv(
    db: Db,
    catalog_no: i64,
    set: TrackSet,
    columns: &'static [TrackColumn],
    filename: &str,
) -> HttpResponse {
    let set = Arc::new(set);
    let chunks = futures_util::stream::unfold((Some(None::<u32>), true), move |(cursor, first)| {
        let db = db.clone();
        let set = Arc::clone(&set);
        async move {
            let cursor = cursor?;
            let ids = set.page_after(cursor, TRACKS_PER_CHUNK);
            let next = if ids.len() == TRACKS_PER_CHUNK {
                ids.last().copied().map(Some)
            } else {
                None
            };
            let chunk = db
                .run(move |conn| catalogs::tracks_by_ids(conn, catalog_no, &ids))
                .await
                .map_err(ApiError::from)
                .and_then(|rows| track_csv_chunk(rows, columns, first));
            let next = match &chunk {
                Ok(_) => next,
                Err(e) => {
                    tracing::error!(error = %e, "a track CSV export ended early");
                    None
                }
            };
            Some((chunk.map_err(actix_web::Error::from), (next, false)))
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(chunks)
}

/// One chunk of a track list as CSV (with the header when it is the first), written by
/// one [`SafeCsv`].
pub fn track_csv_chunk(
    rows: Vec<TrackRow>,
    columns: &[TrackColumn],
    header: bool,
) -> Result<web::Bytes, ApiError> {
    let csv_error = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
    let mut csv = SafeCsv::new();
    if header {
        csv.row(columns.iter().map(|c| c.header()))
            .map_err(csv_error)?;
    }
    for r in rows {
        let isrc = stored_isrc(r.isrc_key)?;
        let date = r.release_date.to_string();
        let duration = r.duration_ms.to_string();
        csv.row(columns.iter().map(|c| match c {
            TrackColumn::Isrc => isrc.as_str(),
            TrackColumn::Title => r.title.as_str(),
            TrackColumn::Artists => r.artists.as_str(),
            TrackColumn::Label => r.label.as_str(),
            TrackColumn::Genre => r.genre.as_str(),
            TrackColumn::ReleaseDate => date.as_str(),
            TrackColumn::DurationMs => duration.as_str(),
        }))
        .map_err(csv_error)?;
    }
    Ok(web::Bytes::from(csv.into_bytes().map_err(csv_error)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> Result<String, csv::Error> {
        let mut csv = SafeCsv::new();
        csv.row(cells)?;
        Ok(String::from_utf8(csv.into_bytes()?).expect("UTF-8 in, UTF-8 out"))
    }

    #[test]
    fn formula_cells_are_neutralized() {
        for (value, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("+1", "'+1"),
            ("-M-", "'-M-"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("'quoted", "''quoted"),
            ("Moonlight", "Moonlight"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(value), written, "{value:?}");
        }
    }

    #[test]
    fn records_are_quoted_and_neutralized() {
        assert_eq!(
            record(["CNA012400001", "=1+1", "a, b", "say \"hi\"", "x"]).expect("written"),
            "CNA012400001,'=1+1,\"a, b\",\"say \"\"hi\"\"\",x\n"
        );
    }

    proptest! {
        #[test]
        fn every_value_is_recoverable_and_never_starts_a_formula(value in ".*") {
            let cell = spreadsheet_safe(&value);
            prop_assert_eq!(recover(&cell), value.as_str());
            prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
        }

        #[test]
        fn a_record_reads_back_as_the_safe_cells(cells in proptest::collection::vec(".*", 1..6)) {
            // After a header line, as in every export (a reader drops a BOM that starts a file).
            let header = record(cells.iter().map(|_| "h")).expect("written");
            let file = header + &record(cells.iter().map(String::as_str)).expect("written");
            let mut reader = csv::ReaderBuilder::new().from_reader(file.as_bytes());
            let read: Vec<String> = reader
                .records()
                .next()
                .expect("one record")
                .expect("readable")
                .iter()
                .map(|c| recover(c).to_string())
                .collect();
            prop_assert_eq!(read, cells);
        }
    }
}
