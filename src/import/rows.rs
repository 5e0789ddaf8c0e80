//! Reading rows out of CSV and NDJSON streams, with line numbers, without
//! holding the file in memory.

use std::io::{BufRead, Read};

use super::ImportError;
use crate::domain::track::{split_artists, TrackInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// Header `isrc,title,artists,label,genre,release_date,duration_ms[,iswc]`; artists
    /// separated by `;`.
    Csv,
    /// One JSON object per line with the same keys; `artists` an array or a `;` string.
    Ndjson,
    /// One DDEX ERN message (XML): its audio recordings, and its deals as holdings.
    Ern,
    /// A batch of ERN messages: a tar archive (optionally gzip-compressed) whose
    /// `.xml` entries are messages, applied in archive order.
    ErnArchive,
}

impl ImportFormat {
    /// From a Content-Type (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "text/csv" => Some(ImportFormat::Csv),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Some(ImportFormat::Ndjson)
            }
            "application/xml" | "text/xml" => Some(ImportFormat::Ern),
            "application/x-tar" | "application/gzip" | "application/x-gtar"
            | "application/x-gzip" => Some(ImportFormat::ErnArchive),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ImportFormat::Csv),
            "ndjson" | "jsonl" => Some(ImportFormat::Ndjson),
            "xml" => Some(ImportFormat::Ern),
            "tar" | "tgz" | "gz" => Some(ImportFormat::ErnArchive),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Csv => "csv",
            ImportFormat::Ndjson => "ndjson",
            ImportFormat::Ern => "ern",
            ImportFormat::ErnArchive => "ern-archive",
        }
    }

    /// Whether this format is read as DDEX ERN messages rather than rows.
    pub fn is_ern(self) -> bool {
        matches!(self, ImportFormat::Ern | ImportFormat::ErnArchive)
    }
}

const COLUMNS: [&str; 8] = [
    "isrc",
    "title",
    "artists",
    "label",
    "genre",
    "release_date",
    "duration_ms",
    "iswc",
];
const REQUIRED_COLUMNS: usize = 7;

/// One row: its line, and either the fields as read or why they could not be read.
pub struct Row {
    pub line: u64,
    pub input: Result<TrackInput, Vec<(String, String)>>,
}

/// Counts the bytes that pass through, for progress reporting.
pub struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.bytes += amt as u64;
        self.inner.consume(amt);
    }
}

pub enum RowReader<R: BufRead> {
    Csv {
        reader: csv::Reader<Counted<R>>,
        record: csv::ByteRecord,
        columns: usize,
    },
    Ndjson {
        input: Counted<R>,
        buffer: Vec<u8>,
        line: u64,
    },
}

fn read_error(e: impl std::fmt::Display) -> ImportError {
    ImportError::Read(e.to_string())
}

impl<R: BufRead> RowReader<R> {
    pub fn new(input: R, format: ImportFormat) -> Result<Self, ImportError> {
        let input = Counted {
            inner: input,
            bytes: 0,
        };
        match format {
            ImportFormat::Ndjson => Ok(RowReader::Ndjson {
                input,
                buffer: Vec::with_capacity(1024),
                line: 0,
            }),
            ImportFormat::Ern | ImportFormat::ErnArchive => Err(ImportError::Internal(
                "ERN messages are read by import::ern_source, not as rows".into(),
            )),
            ImportFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(input);
                let header = reader.byte_headers().map_err(read_error)?.clone();
                let columns = check_header(&header)?;
                Ok(RowReader::Csv {
                    reader,
                    record: csv::ByteRecord::new(),
                    columns,
                })
            }
        }
    }

    pub fn bytes_read(&self) -> u64 {
        match self {
            RowReader::Csv { reader, .. } => reader.get_ref().bytes,
            RowReader::Ndjson { input, .. } => input.bytes,
        }
    }

    pub fn next_row(&mut self) -> Result<Option<Row>, ImportError> {
        match self {
            RowReader::Csv {
                reader,
                record,
                columns,
            } => {
                match reader.read_byte_record(record) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let line = record.position().map_or(0, |p| p.line());
                        Ok(Some(Row {
                            line,
                            input: csv_input(record, *columns),
                        }))
                    }
                    // The csv reader fails on an unterminated quote; report it as the row's problem.
                    Err(e) => match e.kind() {
                        csv::ErrorKind::Io(_) => Err(read_error(e)),
                        _ => {
                            let line = e.position().map_or(0, |p| p.line());
                            Ok(Some(Row {
                                line,
                                input: Err(vec![("row".into(), format!("unreadable CSV: {e}"))]),
                            }))
                        }
                    },
                }
            }
            RowReader::Ndjson {
                input,
                buffer,
                line,
            } => loop {
                buffer.clear();
                let n = input.read_until(b'\n', buffer).map_err(read_error)?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let content = buffer.trim_ascii();
                if content.is_empty() {
                    continue;
                }
                let parsed = serde_json::from_slice::<TrackInput>(content).map_err(|e| {
                    let message = if std::str::from_utf8(content).is_err() {
                        "the line is not valid UTF-8".to_string()
                    } else {
                        format!("not a JSON object with the track's fields: {e}")
                    };
                    vec![("row".to_string(), message)]
                });
                return Ok(Some(Row {
                    line: *line,
                    input: parsed,
                }));
            },
        }
    }
}

/// The header must name the columns in order (`iswc` optional), any case.
fn check_header(header: &csv::ByteRecord) -> Result<usize, ImportError> {
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            String::from_utf8_lossy(raw).trim().to_ascii_lowercase()
        })
        .collect();
    let expected = COLUMNS.join(",");
    if names.is_empty() || names.iter().all(String::is_empty) {
        return Err(ImportError::File {
            field: "header".into(),
            message: format!("the file is empty; the first line must be the header `{expected}`"),
        });
    }
    let ok = (names.len() == REQUIRED_COLUMNS || names.len() == COLUMNS.len())
        && names.iter().zip(COLUMNS).all(|(n, c)| n == c);
    if !ok {
        return Err(ImportError::File {
            field: "header".into(),
            message: format!(
                "the header must be `{}` (optionally followed by `,iswc`); found `{}`",
                COLUMNS[..REQUIRED_COLUMNS].join(","),
                names.join(",")
            ),
        });
    }
    Ok(names.len())
}

fn csv_input(
    record: &csv::ByteRecord,
    columns: usize,
) -> Result<TrackInput, Vec<(String, String)>> {
    if record.len() != columns {
        return Err(vec![(
            "row".into(),
            format!(
                "expected {columns} fields, found {} (a truncated or malformed line?)",
                record.len()
            ),
        )]);
    }
    let mut fields = Vec::with_capacity(columns);
    let mut errors = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        match std::str::from_utf8(raw) {
            Ok(s) => fields.push(s),
            Err(_) => {
                errors.push((COLUMNS[i].to_string(), "is not valid UTF-8".to_string()));
                fields.push("");
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TrackInput {
        isrc: fields[0].to_string(),
        title: fields[1].to_string(),
        artists: split_artists(fields[2]),
        label: fields[3].to_string(),
        genre: fields[4].to_string(),
        release_date: fields[5].to_string(),
        duration_ms: fields[6].to_string(),
        iswc: fields
            .get(7)
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: ImportFormat, text: &str) -> Result<Vec<Row>, ImportError> {
        let mut reader = RowReader::new(text.as_bytes(), format)?;
        let mut out = Vec::new();
        while let Some(row) = reader.next_row()? {
            out.push(row);
        }
        Ok(out)
    }

    #[test]
    fn csv_rows_carry_their_line_numbers() {
        let text = "isrc,title,artists,label,genre,release_date,duration_ms\n\
                    CNA012400001,Song,A;B,L,pop,2020-01-01,180000\n\
                    CNA012400002,\"Quoted, title\",C,L,pop,2020-01-01,1000\n\
                    CNA012400003,Short\n";
        let rows = rows(ImportFormat::Csv, text).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let first = rows[0].input.as_ref().unwrap();
        assert_eq!(first.artists, vec!["A", "B"]);
        assert_eq!(rows[1].input.as_ref().unwrap().title, "Quoted, title");
        assert_eq!(rows[2].input.as_ref().unwrap_err()[0].0, "row");
    }

    #[test]
    fn wrong_or_missing_header_refuses_the_file() {
        assert!(matches!(
            rows(ImportFormat::Csv, "isrc,name\nx,y\n"),
            Err(ImportError::File { .. })
        ));
        assert!(matches!(
            rows(ImportFormat::Csv, ""),
            Err(ImportError::File { .. })
        ));
        let bom = "\u{feff}ISRC,Title,Artists,Label,Genre,Release_Date,Duration_ms,ISWC\n";
        assert!(rows(ImportFormat::Csv, bom).unwrap().is_empty());
    }

    #[test]
    fn invalid_utf8_names_the_field() {
        let mut bytes =
            b"isrc,title,artists,label,genre,release_date,duration_ms\nCNA012400001,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b",A,L,pop,2020-01-01,1000\n");
        let mut reader = RowReader::new(bytes.as_slice(), ImportFormat::Csv).unwrap();
        let row = reader.next_row().unwrap().unwrap();
        assert_eq!(row.input.unwrap_err()[0].0, "title");
    }

    #[test]
    fn ndjson_skips_blank_lines_and_reports_bad_ones() {
        let text = "{\"isrc\":\"CNA012400001\",\"title\":\"t\",\"artists\":[\"a\"],\"label\":\"l\",\"genre\":\"g\",\"release_date\":\"2020-01-01\",\"duration_ms\":1000}\n\n{\"isrc\": \n";
        let rows = rows(ImportFormat::Ndjson, text).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].input.is_ok());
        assert_eq!(rows[1].line, 3);
        assert!(rows[1].input.is_err());
    }

    #[test]
    fn formats_from_content_types_and_paths() {
        assert_eq!(
            ImportFormat::from_content_type("text/csv; charset=utf-8"),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_content_type("application/x-ndjson"),
            Some(ImportFormat::Ndjson)
        );
        assert_eq!(ImportFormat::from_content_type("application/json"), None);
        assert_eq!(
            ImportFormat::from_path(std::path::Path::new("a.CSV")),
            Some(ImportFormat::Csv)
        );
    }
}
