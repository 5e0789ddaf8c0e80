//! `cadenza bench …`: the measurements recorded in `docs/performance.md`, programs
//! sharing the timing helpers here — [`catalog`] (import, selectors, listings on a
//! generated catalog), [`signing`] (the exclusivity check at execution), [`market`]
//! (seeding a marketplace for the browse load test), [`input`] (what the edge's input
//! check costs a request body) and [`royalties`] (a usage report read and its statement).

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::db::accounts::{self, Organization};
use crate::db::catalogs::{self, Catalog, NewCatalog};
use crate::db::postings_cache::PostingsCache;
use crate::db::{new_id, now, DatabaseTarget, Db, DbConnection};
use crate::domain::isrc::Isrc;
use crate::domain::selector::{evaluate, Selector, ValidatedSelector};
use crate::domain::trackset::TrackSet;
use crate::import::generate::{generate_catalog, generate_catalog_in, DeliveryOrder};
use crate::import::{self, ImportFormat, Progress};

pub mod catalog;
pub mod ddex;
pub mod input;
pub mod market;
pub mod royalties;
pub mod signing;

pub use catalog::run_catalog_bench;
pub use ddex::run_ddex_bench;
pub use input::run_input_bench;
pub use market::{seed_marketplace, MarketSeed};
pub use royalties::run_royalties_bench;
pub use signing::run_signing_bench;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Import(#[from] import::ImportError),
    #[error("{0}")]
    Setup(String),
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub(super) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub(super) fn time_runs<T>(
    runs: usize,
    mut f: impl FnMut() -> Result<T, BenchError>,
) -> Result<(Duration, T), BenchError> {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f()?);
        samples.push(start.elapsed());
    }
    let value = last.ok_or_else(|| BenchError::Setup("no runs".into()))?;
    Ok((median(samples), value))
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(super) struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn advance(&mut self, bytes: u64, rows: u64) {
        self.0.set_position(bytes);
        self.0.set_message(format!("{rows} rows"));
    }
}

/// A progress bar over a file of `len` bytes, with rate and ETA.
pub fn file_progress(len: u64) -> impl Progress {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Bar(bar)
}

/// A catalog of `organization_id` holding `tracks` generated tracks (seed `seed`),
/// worldwide streaming rights 2020–2060, sublicensable; imported through a CSV file
/// in `work_dir`, as an upload would be.
pub(super) fn import_generated(
    conn: &mut DbConnection,
    organization_id: &str,
    tracks: u64,
    seed: u64,
    work_dir: &Path,
) -> Result<Catalog, BenchError> {
    let at = now();
    let file = work_dir.join(format!("generated-{seed}.csv"));
    {
        let mut writer = BufWriter::with_capacity(1 << 20, std::fs::File::create(&file)?);
        generate_catalog(&mut writer, tracks, seed, ImportFormat::Csv)?;
        writer.flush()?;
    }
    let catalog = catalogs::insert_catalog(
        conn,
        &NewCatalog {
            id: new_id(),
            organization_id: organization_id.to_string(),
            name: format!("Generated catalog {seed}"),
            territories: r#"["worldwide"]"#.into(),
            usages: r#"["interactive_streaming","non_interactive_streaming"]"#.into(),
            holding_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            holding_end: chrono::NaiveDate::from_ymd_opt(2060, 12, 31).unwrap_or_default(),
            sublicensable: true,
            track_count: 0,
            created_at: at,
            updated_at: at,
            recordings: Some(crate::domain::recording::RecordingSet::new().to_bytes()),
            backing_grant_id: None,
        },
    )?;
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
    import::import_tracks(
        conn,
        &catalog,
        None,
        reader,
        ImportFormat::Csv,
        chrono::Utc::now().date_naive(),
        &mut (),
    )?;
    std::fs::remove_file(&file)?;
    catalogs::find_catalog(conn, &catalog.id)?
        .ok_or_else(|| BenchError::Setup("the imported catalog is missing".into()))
}

/// A selector evaluated without the postings cache.
pub(super) fn evaluate_on(
    conn: &mut DbConnection,
    catalog: &Catalog,
    selector: &ValidatedSelector,
) -> Result<TrackSet, BenchError> {
    // Uncached: every run fetches and decodes its postings, as before the cache.
    let index =
        catalogs::load_selector_index(conn, &PostingsCache::disabled(), catalog.no, selector)?;
    Ok(evaluate(selector, &index).tracks)
}

/// `n` ISRCs spread evenly over the catalog.
pub(super) fn sample_isrcs(
    conn: &mut DbConnection,
    catalog: &Catalog,
    n: usize,
) -> Result<Vec<String>, BenchError> {
    let all = catalogs::catalog_tracks(conn, catalog.no)?;
    let step = (all.len() / n as u64).max(1) as usize;
    let ids: Vec<u32> = all.iter().step_by(step).take(n).collect();
    Ok(catalogs::tracks_by_ids(conn, catalog.no, &ids)?
        .into_iter()
        .filter_map(|r| Isrc::from_key(r.isrc_key))
        .map(Isrc::into_string)
        .collect())
}
