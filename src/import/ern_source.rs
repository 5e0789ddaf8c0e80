//! ERN deliveries into the import pipeline: one message, or a tar archive
//! (optionally gzip-compressed) of many, read message by message.

use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;

use super::ern::{self, ErnMessage, MessageError, MessageKind};
use super::{rows, ImportError, ImportFormat, ImportRun, Location, Progress};
use crate::deals::delivered::Delivery;
use crate::domain::isrc::Isrc;

/// Counts the bytes read, for progress.
struct Counting<R> {
    inner: R,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn file_error(e: MessageError) -> ImportError {
    let field = if e.element.is_empty() {
        "body".to_string()
    } else {
        e.element
    };
    let message = if e.line > 0 {
        format!("line {}: {}", e.line, e.message)
    } else {
        e.message
    };
    ImportError::File { field, message }
}

pub(super) fn read_messages<'i>(
    run: &mut ImportRun,
    input: impl BufRead + Send + 'i,
    format: ImportFormat,
    today: NaiveDate,
    progress: &mut (dyn Progress + Send),
) -> Result<(), ImportError> {
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = Counting {
        inner: input,
        bytes: bytes.clone(),
    };
    let read_so_far = || bytes.load(std::sync::atomic::Ordering::Relaxed);
    if format == ImportFormat::Ern {
        // One message: any message-level problem makes the file unusable.
        let content = ern::read_bounded(input, 0).map_err(file_error)?;
        let message = ern::read_message(&content).map_err(file_error)?;
        take_message(run, None, message, today)?;
        progress.advance(read_so_far(), run.rows_seen);
        return Ok(());
    }
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let gzip = buffered
        .fill_buf()
        .map_err(|e| ImportError::Read(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + Send + 'i> = if gzip {
        Box::new(flate2::bufread::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    // A second thread reads and parses the messages while this one validates and
    // numbers their recordings (and a third writes them): the XML is most of the work.
    std::thread::scope(|scope| {
        let (sender, parsed) = std::sync::mpsc::sync_channel(PARSED_AHEAD);
        scope.spawn(move || parse_archive(reader, sender));
        let mut messages = 0u64;
        // Returning early drops the receiver, which stops the parser at its next message.
        for item in parsed {
            let (name, message) = item?;
            messages += 1;
            match message {
                Ok(message) => take_message(run, Some(&name), message, today)?,
                // In a batch, an unusable message is reported and the others go on.
                Err(e) => run.reject_at(
                    e.line,
                    Some(&Location {
                        document: Some(name),
                        element: e.element,
                    }),
                    vec![("message".into(), e.message)],
                ),
            }
            if messages % 100 == 0 {
                progress.advance(read_so_far(), run.rows_seen);
            }
        }
        progress.advance(read_so_far(), run.rows_seen);
        if messages == 0 {
            return Err(ImportError::File {
                field: "body".into(),
                message:
                    "the archive holds no .xml file: a batch is a tar (or .tar.gz) of ERN messages"
                        .into(),
            });
        }
        Ok(())
    })
}

/// Parsed messages the parsing thread may be ahead of the import by.
const PARSED_AHEAD: usize = 64;

/// One message of an archive: its name and what it reads as.
type Parsed = (String, Result<ErnMessage, MessageError>);

/// The parsing thread: every `.xml` file of the archive, read, in archive order; an
/// archive that cannot be read ends the list with its error.
fn parse_archive(
    reader: Box<dyn Read + Send + '_>,
    parsed: std::sync::mpsc::SyncSender<Result<Parsed, ImportError>>,
) {
    let archive_error =
        |e: std::io::Error| ImportError::Read(format!("the archive could not be read as tar: {e}"));
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => {
            let _ = parsed.send(Err(archive_error(e)));
            return;
        }
    };
    for entry in entries {
        let item = entry.map_err(archive_error).and_then(|entry| {
            if !entry.header().entry_type().is_file() {
                return Ok(None);
            }
            let name = entry
                .path()
                .map_err(archive_error)?
                .to_string_lossy()
                .into_owned();
            let file_name = name.rsplit('/').next().unwrap_or(&name);
            // Archivers' metadata (macOS `._` files) and non-XML files are not messages.
            if !file_name.to_ascii_lowercase().ends_with(".xml") || file_name.starts_with("._") {
                return Ok(None);
            }
            let size = entry.size();
            let message =
                ern::read_bounded(entry, size).and_then(|content| ern::read_message(&content));
            Ok(Some((name, message)))
        });
        let item = match item {
            Ok(None) => continue,
            Ok(Some(message)) => Ok(message),
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if parsed.send(item).is_err() || failed {
            return;
        }
    }
}

fn take_message(
    run: &mut ImportRun,
    document: Option<&str>,
    message: ErnMessage,
    today: NaiveDate,
) -> Result<(), ImportError> {
    let created = message.created.unwrap_or(today);
    let document_name = document.unwrap_or("").to_string();
    if message.kind == MessageKind::Purge {
        let release_key = message.release_key.unwrap_or_default();
        run.deliveries.push(Delivery::Purge {
            document: document_name,
            message_id: message.message_id,
            release_key,
            created,
            line: 0,
            element: "/PurgeReleaseMessage/PurgedRelease".into(),
        });
        return Ok(());
    }
    let had_deal_problems = !message.deal_problems.is_empty();
    for problem in message.deal_problems {
        run.reject_at(
            problem.line,
            Some(&Location {
                document: document.map(str::to_string),
                element: problem.element,
            }),
            vec![(problem.field, problem.message)],
        );
    }
    let mut tracks = Vec::with_capacity(message.recordings.len());
    for recording in message.recordings {
        let at = Location {
            document: document.map(str::to_string),
            element: recording.element,
        };
        let input = match recording.input {
            Ok(input) => input,
            Err(problems) => {
                run.rows_seen += 1;
                run.report.rejected_rows += 1;
                for p in problems {
                    run.report.push_rejected(super::RejectedRow {
                        line: p.line,
                        field: p.field,
                        message: p.message,
                        document: document.map(str::to_string),
                        element: Some(p.element),
                    });
                }
                continue;
            }
        };
        let isrc = Isrc::parse(&input.isrc).ok();
        let before = (run.report.imported, run.report.skipped_existing);
        run.take_at(
            rows::Row {
                line: recording.line,
                input: Ok(input),
            },
            Some(&at),
            today,
        )?;
        let taken = (run.report.imported, run.report.skipped_existing) != before;
        if let (true, Some(isrc)) = (taken, isrc) {
            tracks.push((isrc, recording.holding));
        }
    }
    if !message.has_deals && had_deal_problems {
        // Every deal was unusable (reported above): the holdings stay as they were,
        // rather than a broken message reading as a takedown.
        return Ok(());
    }
    run.deliveries.push(Delivery::Release {
        document: document_name,
        message_id: message.message_id,
        release_key: message.release_key,
        created,
        has_deals: message.has_deals,
        tracks,
    });
    Ok(())
}
