//! `cadenza bench catalog`: the catalog-scale measurements recorded in
//! `docs/performance.md` — import time and peak memory per backend, selector
//! latency, slice size, listing and membership latency — on a generated catalog.

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

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_runs<T>(
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Bar(indicatif::ProgressBar);

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

fn evaluate_on(
    conn: &mut DbConnection,
    catalog: &Catalog,
    selector: &ValidatedSelector,
) -> Result<TrackSet, BenchError> {
    // Uncached: every run fetches and decodes its postings, as before the cache.
    let index =
        catalogs::load_selector_index(conn, &PostingsCache::disabled(), catalog.no, selector)?;
    Ok(evaluate(selector, &index).tracks)
}

/// A selector evaluated through a postings cache. Cold: the first run on a
/// fresh cache, which fetches every posting and fills the cache (median of 5,
/// each on a new cache, so one disturbed run does not make the figure). Warm:
/// repeated runs on a filled cache (median of 7), which read the catalog's
/// postings version and take every posting from the cache, as a node does
/// while a user edits and re-runs a selector.
fn cold_and_warm(
    conn: &mut DbConnection,
    catalog: &Catalog,
    selector: &ValidatedSelector,
) -> Result<(Duration, Duration, u64), BenchError> {
    let run = |conn: &mut DbConnection, cache: &PostingsCache| -> Result<TrackSet, BenchError> {
        let index = catalogs::load_selector_index(conn, cache, catalog.no, selector)?;
        Ok(evaluate(selector, &index).tracks)
    };
    let mut cache = PostingsCache::new(crate::db::postings_cache::DEFAULT_BUDGET_BYTES);
    let (cold, cold_set) = time_runs(5, || {
        cache = PostingsCache::new(crate::db::postings_cache::DEFAULT_BUDGET_BYTES);
        run(conn, &cache)
    })?;
    let (warm, warm_set) = time_runs(7, || run(conn, &cache))?;
    if warm_set != cold_set {
        return Err(BenchError::Setup(
            "cached evaluation differs from the first one".into(),
        ));
    }
    Ok((cold, warm, cache.weight_bytes()))
}

fn write_cold_warm(
    out: &mut dyn Write,
    name: &str,
    (cold, warm, bytes): (Duration, Duration, u64),
) -> Result<(), BenchError> {
    writeln!(
        out,
        "| {name}, postings cache ({:.1} MiB held): cold (fresh cache, median of 5) / warm (repeated, median of 7) | {} / {} |",
        bytes as f64 / 1048576.0,
        ms(cold),
        ms(warm)
    )?;
    Ok(())
}

/// What `serve` does at start and after an import (`app::warm_postings`): load the
/// catalog's postings into a fresh cache; then the first evaluation of `selector`.
fn write_after_warm_up(
    out: &mut dyn Write,
    conn: &mut DbConnection,
    catalog: &Catalog,
    selector: &ValidatedSelector,
) -> Result<(), BenchError> {
    let cache = PostingsCache::new(crate::db::postings_cache::DEFAULT_BUDGET_BYTES);
    let started = Instant::now();
    let loaded = catalogs::warm_postings(conn, &cache, catalog.no)?;
    let warming = started.elapsed();
    let started = Instant::now();
    let index = catalogs::load_selector_index(conn, &cache, catalog.no, selector)?;
    let first = evaluate(selector, &index).tracks;
    let first_time = started.elapsed();
    writeln!(
        out,
        "| … warm-up of the whole catalog ({loaded} postings, {:.1} MiB) / then its first evaluation ({} tracks) | {} / {} |",
        cache.weight_bytes() as f64 / 1048576.0,
        first.len(),
        ms(warming),
        ms(first_time)
    )?;
    Ok(())
}

/// Where one selector evaluation spends its time: fetching the postings rows,
/// decoding them into an index, and the bitmap algebra itself.
struct SelectorProfile {
    rows: usize,
    bytes: usize,
    fetch: Duration,
    decode: Duration,
    evaluate: Duration,
    tracks: u64,
}

fn profile_selector(
    conn: &mut DbConnection,
    catalog: &Catalog,
    selector: &ValidatedSelector,
) -> Result<SelectorProfile, BenchError> {
    use crate::domain::selector::{AttributeKind, DatePostings, MemoryIndex};
    let started = Instant::now();
    // As `catalogs::load_selector_index` does it, step by step.
    let dates = if selector.has_date_filter() && !catalogs::has_month_postings(conn, catalog.no)? {
        DatePostings::YearsDays
    } else {
        DatePostings::YearsMonthsDays
    };
    let rows = catalogs::load_postings(conn, catalog.no, &selector.needed_postings(dates))?;
    let fetch = started.elapsed();
    let started = Instant::now();
    let bytes = rows.iter().map(|r| r.bitmap.len()).sum();
    let count = rows.len();
    let mut builder = MemoryIndex::builder();
    builder.date_postings(dates);
    for row in rows {
        let kind: AttributeKind = row
            .kind
            .parse()
            .map_err(|_| BenchError::Setup(format!("posting kind {}", row.kind)))?;
        builder
            .add_posting(kind, &row.posting_key, catalogs::decode_set(&row.bitmap)?)
            .map_err(|e| BenchError::Setup(e.to_string()))?;
    }
    let index = builder.build();
    let decode = started.elapsed();
    let started = Instant::now();
    let tracks = evaluate(selector, &index).tracks.len();
    Ok(SelectorProfile {
        rows: count,
        bytes,
        fetch,
        decode,
        evaluate: started.elapsed(),
        tracks,
    })
}

fn write_profile(out: &mut dyn Write, name: &str, p: &SelectorProfile) -> Result<(), BenchError> {
    writeln!(
        out,
        "| {name}, one run split: {} postings rows ({:.1} MiB) fetched / decoded / evaluated → {} tracks | {} / {} / {} |",
        p.rows,
        p.bytes as f64 / 1048576.0,
        p.tracks,
        ms(p.fetch),
        ms(p.decode),
        ms(p.evaluate)
    )?;
    Ok(())
}

/// Runs the whole measurement and prints a Markdown report.
pub fn run_catalog_bench(
    database_url: &str,
    tracks: u64,
    work_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    let target = DatabaseTarget::parse(database_url)?;
    writeln!(
        out,
        "## Catalog benchmark: {tracks} tracks on {}\n",
        target.describe()
    )?;
    writeln!(out, "| measurement | result |\n| --- | --- |")?;

    let file = work_dir.join(format!("catalog-{tracks}.csv"));
    let started = Instant::now();
    {
        let mut writer = BufWriter::with_capacity(1 << 20, std::fs::File::create(&file)?);
        // In the order catalog exports come (label by label), which decides how
        // clustered a label slice's ids are; see docs/performance.md.
        generate_catalog_in(
            &mut writer,
            tracks,
            42,
            ImportFormat::Csv,
            DeliveryOrder::LabelByLabel,
        )?;
        writer.flush()?;
    }
    let file_len = std::fs::metadata(&file)?.len();
    writeln!(
        out,
        "| generate CSV, label by label ({:.0} MiB) | {:.1} s |",
        file_len as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    )?;

    let db = Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let at = now();
    let organization = Organization {
        id: new_id(),
        name: "Benchmark Platform".into(),
        kind: "platform".into(),
        created_at: at,
    };
    accounts::insert_organization(&mut conn, &organization)?;
    let catalog = catalogs::insert_catalog(
        &mut conn,
        &NewCatalog {
            id: new_id(),
            organization_id: organization.id.clone(),
            name: "Benchmark catalog".into(),
            territories: r#"["worldwide"]"#.into(),
            usages: r#"["interactive_streaming"]"#.into(),
            holding_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            holding_end: chrono::NaiveDate::from_ymd_opt(2040, 12, 31).unwrap_or_default(),
            sublicensable: true,
            track_count: 0,
            created_at: at,
            updated_at: at,
        },
    )?;

    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let started = Instant::now();
    let mut progress = file_progress(file_len);
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
    let report = import::import_tracks(
        &mut conn,
        &catalog,
        None,
        reader,
        ImportFormat::Csv,
        chrono::Utc::now().date_naive(),
        &mut progress,
    )?;
    let import_time = started.elapsed();
    let rss_after = peak_rss_mib().unwrap_or(0.0);
    writeln!(
        out,
        "| import {} tracks | {:.1} s ({:.0} rows/s), {} rejected |",
        report.imported,
        import_time.as_secs_f64(),
        report.imported as f64 / import_time.as_secs_f64(),
        report.rejected_rows
    )?;
    writeln!(
        out,
        "| peak RSS (process, before → after import) | {rss_before:.0} MiB → {rss_after:.0} MiB |"
    )?;
    let catalog = catalogs::find_catalog(&mut conn, &catalog.id)?
        .ok_or_else(|| BenchError::Setup("catalog vanished".into()))?;

    // A ~10% slice ("1.5M of 15M"): the biggest labels until a tenth of the catalog.
    let target_size = (catalog.track_count / 10).max(1);
    let mut labels = Vec::new();
    let mut covered = 0;
    for (label, count) in catalogs::top_postings(&mut conn, catalog.no, "label", 3_000)? {
        if covered >= target_size {
            break;
        }
        covered += count;
        labels.push(label);
    }
    let ten_percent = Selector {
        labels: Some(labels.clone()),
        ..Selector::default()
    }
    .validate()
    .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
    let (t, slice) = time_runs(7, || evaluate_on(&mut conn, &catalog, &ten_percent))?;
    writeln!(
        out,
        "| selector: {} labels → {} tracks (median of 7) | {} |",
        labels.len(),
        slice.len(),
        ms(t)
    )?;
    write_cold_warm(
        out,
        "selector: labels",
        cold_and_warm(&mut conn, &catalog, &ten_percent)?,
    )?;
    let bytes = slice.to_bytes();
    write_slice_size(out, "that slice (whole labels) stored", &slice)?;
    let (t, _) = time_runs(7, || Ok(slice.content_hash()))?;
    writeln!(out, "| content hash of that slice | {} |", ms(t))?;

    let genre_dates = Selector {
        genres: Some(vec!["Pop".into(), "Rock".into()]),
        released_from: chrono::NaiveDate::from_ymd_opt(2015, 3, 15),
        released_to: chrono::NaiveDate::from_ymd_opt(2022, 9, 30),
        ..Selector::default()
    }
    .validate()
    .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
    let (t, set) = time_runs(7, || evaluate_on(&mut conn, &catalog, &genre_dates))?;
    writeln!(
        out,
        "| selector: 2 genres × date range → {} tracks | {} |",
        set.len(),
        ms(t)
    )?;
    write_profile(
        out,
        "selector: 2 genres × date range",
        &profile_selector(&mut conn, &catalog, &genre_dates)?,
    )?;
    write_cold_warm(
        out,
        "selector: 2 genres × date range",
        cold_and_warm(&mut conn, &catalog, &genre_dates)?,
    )?;
    write_slice_size(out, "that slice (spread over the catalog) stored", &set)?;
    // The worst case for size: a tenth of the ids, uniformly at random.
    let mut rng =
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(catalog.track_count as u64);
    let spread: TrackSet = (0..catalog.track_count as u32)
        .filter(|_| rand::Rng::gen_ratio(&mut rng, 1, 10))
        .collect();
    write_slice_size(
        out,
        "a uniformly random tenth of the catalog, stored",
        &spread,
    )?;

    let wide_dates = Selector {
        released_from: chrono::NaiveDate::from_ymd_opt(1990, 3, 15),
        released_to: chrono::NaiveDate::from_ymd_opt(2025, 10, 16),
        ..Selector::default()
    }
    .validate()
    .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
    let (t, set) = time_runs(7, || evaluate_on(&mut conn, &catalog, &wide_dates))?;
    writeln!(
        out,
        "| selector: date range crossing 36 years, no other filter → {} tracks | {} |",
        set.len(),
        ms(t)
    )?;
    write_profile(
        out,
        "selector: 36-year date range",
        &profile_selector(&mut conn, &catalog, &wide_dates)?,
    )?;
    write_cold_warm(
        out,
        "selector: 36-year date range",
        cold_and_warm(&mut conn, &catalog, &wide_dates)?,
    )?;
    let artists: Vec<String> = catalogs::top_postings(&mut conn, catalog.no, "artist", 100)?
        .into_iter()
        .map(|(artist, _)| artist)
        .collect();
    let many_artists = Selector {
        artists: Some(artists),
        released_from: chrono::NaiveDate::from_ymd_opt(2001, 7, 4),
        ..Selector::default()
    }
    .validate()
    .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
    let (t, set) = time_runs(7, || evaluate_on(&mut conn, &catalog, &many_artists))?;
    writeln!(
        out,
        "| selector: 100 biggest artists released since 2001-07-04 → {} tracks | {} |",
        set.len(),
        ms(t)
    )?;
    write_profile(
        out,
        "selector: 100 artists since 2001-07-04",
        &profile_selector(&mut conn, &catalog, &many_artists)?,
    )?;
    write_cold_warm(
        out,
        "selector: 100 artists since 2001-07-04",
        cold_and_warm(&mut conn, &catalog, &many_artists)?,
    )?;
    write_after_warm_up(out, &mut conn, &catalog, &many_artists)?;

    let everything_but = Selector {
        exclude_isrcs: Some(sample_isrcs(&mut conn, &catalog, 1_000)?),
        ..Selector::default()
    }
    .validate()
    .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
    let (t, set) = time_runs(7, || evaluate_on(&mut conn, &catalog, &everything_but))?;
    writeln!(
        out,
        "| selector: whole catalog minus 1,000 ISRCs → {} tracks | {} |",
        set.len(),
        ms(t)
    )?;
    write_cold_warm(
        out,
        "selector: whole catalog minus 1,000 ISRCs",
        cold_and_warm(&mut conn, &catalog, &everything_but)?,
    )?;

    let stored = catalogs::Slice {
        id: new_id(),
        catalog_id: catalog.id.clone(),
        organization_id: organization.id.clone(),
        name: "bench".into(),
        selector: "{}".into(),
        track_count: slice.len() as i64,
        catalog_track_count: catalog.track_count,
        bitmap: bytes,
        content_hash: slice.content_hash(),
        frozen_at: None,
        created_at: now(),
    };
    catalogs::insert_slice(&mut conn, &stored)?;
    let middle = slice
        .page_after(None, (slice.len() / 2) as usize)
        .last()
        .copied();
    for (name, cursor) in [("first page", None), ("page from the middle", middle)] {
        let (t, rows) = time_runs(21, || {
            let loaded = catalogs::find_slice(&mut conn, &stored.id)?
                .ok_or_else(|| BenchError::Setup("slice".into()))?;
            let set = catalogs::decode_set(&loaded.bitmap)?;
            Ok(catalogs::tracks_by_ids(&mut conn, catalog.no, &set.page_after(cursor, 100))?.len())
        })?;
        writeln!(
            out,
            "| list slice tracks, {name} (100 rows, slice loaded each time) | {} ({rows} rows) |",
            ms(t)
        )?;
    }
    // Probe a member of the slice, from the middle of it.
    let probe_id = middle.unwrap_or_default();
    let probe = catalogs::tracks_by_ids(&mut conn, catalog.no, &[probe_id])?
        .first()
        .and_then(|r| Isrc::from_key(r.isrc_key))
        .ok_or_else(|| BenchError::Setup("probe track".into()))?;
    let (t, member) = time_runs(21, || {
        let loaded = catalogs::find_slice(&mut conn, &stored.id)?
            .ok_or_else(|| BenchError::Setup("slice".into()))?;
        let row = catalogs::track_by_isrc_key(&mut conn, catalog.no, probe.key())?;
        let set = catalogs::decode_set(&loaded.bitmap)?;
        Ok(row.is_some_and(|r| set.contains(r.track_id as u32)))
    })?;
    writeln!(
        out,
        "| membership of one ISRC (answer: {member}) | {} |",
        ms(t)
    )?;

    let started = Instant::now();
    let again = import::import_tracks(
        &mut conn,
        &catalog,
        None,
        BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?),
        ImportFormat::Csv,
        chrono::Utc::now().date_naive(),
        &mut (),
    )?;
    writeln!(
        out,
        "| re-import of the same file (idempotent: {} new, {} skipped) | {:.1} s |",
        again.imported,
        again.skipped_existing,
        started.elapsed().as_secs_f64()
    )?;
    std::fs::remove_file(&file)?;
    Ok(())
}

/// Stored size of a slice as written today (roaring 0.10: array and bitmap
/// containers), and what run containers would make of it (roaring ≥ 0.11's
/// `optimize`, not used: it needs Rust 1.90). The estimate takes, per 65,536-id
/// chunk, the smallest of array (2 B/id), bitmap (8 KiB) and runs (4 B/run + 2),
/// plus 8 B of header per chunk.
fn write_slice_size(out: &mut dyn Write, name: &str, set: &TrackSet) -> Result<(), BenchError> {
    let stored = set.serialized_size();
    let mut estimate = 8usize;
    let mut chunk: Option<u32> = None;
    let (mut ids, mut runs, mut last) = (0usize, 0usize, None::<u32>);
    let close = |ids: usize, runs: usize| 8 + (2 * ids).min(8192).min(2 + 4 * runs);
    for id in set.iter() {
        if chunk != Some(id >> 16) {
            if chunk.is_some() {
                estimate += close(ids, runs);
            }
            chunk = Some(id >> 16);
            (ids, runs) = (0, 0);
            last = None;
        }
        if last.is_none_or(|l| l + 1 != id) {
            runs += 1;
        }
        ids += 1;
        last = Some(id);
    }
    if chunk.is_some() {
        estimate += close(ids, runs);
    }
    writeln!(
        out,
        "| {name}: {} tracks | {} bytes ({:.2} MiB); with run containers ≈ {} bytes |",
        set.len(),
        stored,
        stored as f64 / 1048576.0,
        estimate
    )?;
    Ok(())
}

fn sample_isrcs(
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

/// `cadenza bench signing`: the second signature of an exclusive deal over a slice of
/// about a tenth of the catalog, checked against `existing` grants of the same
/// catalog whose rights windows all overlap it (so every one of their track sets is
/// loaded and intersected: the worst case for the exclusivity check).
pub fn run_signing_bench(
    database_url: &str,
    tracks: u64,
    existing: usize,
    runs: usize,
    work_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    use crate::db::deals::{insert_grant, GrantRow};
    use crate::deals::{self, Member, Origin, Payload};
    use crate::domain::deal::{Action, Party};
    use crate::domain::role::Role;
    use crate::domain::terms::TermSheetInput;

    let target = DatabaseTarget::parse(database_url)?;
    writeln!(
        out,
        "## Signing benchmark: {tracks}-track catalog, {existing} existing grants, on {}\n",
        target.describe()
    )?;
    let file = work_dir.join("signing.csv");
    {
        let mut writer = BufWriter::with_capacity(1 << 20, std::fs::File::create(&file)?);
        generate_catalog(&mut writer, tracks, 7, ImportFormat::Csv)?;
        writer.flush()?;
    }
    let db = Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let at = now();
    let mut org = |name: &str| -> Result<Organization, BenchError> {
        let o = Organization {
            id: new_id(),
            name: name.into(),
            kind: "platform".into(),
            created_at: at,
        };
        accounts::insert_organization(&mut conn, &o)?;
        Ok(o)
    };
    let licensor = org("Bench Licensor")?;
    let licensee = org("Bench Licensee")?;
    let catalog = catalogs::insert_catalog(
        &mut conn,
        &NewCatalog {
            id: new_id(),
            organization_id: licensor.id.clone(),
            name: "Signing benchmark".into(),
            territories: r#"["worldwide"]"#.into(),
            usages: r#"["interactive_streaming","non_interactive_streaming"]"#.into(),
            holding_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            holding_end: chrono::NaiveDate::from_ymd_opt(2060, 12, 31).unwrap_or_default(),
            sublicensable: true,
            track_count: 0,
            created_at: at,
            updated_at: at,
        },
    )?;
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
    import::import_tracks(
        &mut conn,
        &catalog,
        None,
        reader,
        ImportFormat::Csv,
        chrono::Utc::now().date_naive(),
        &mut (),
    )?;
    std::fs::remove_file(&file)?;
    let catalog = catalogs::find_catalog(&mut conn, &catalog.id)?
        .ok_or_else(|| BenchError::Setup("catalog".into()))?;

    // The deal's slice: the biggest labels up to a tenth of the catalog.
    let labels_by_size = catalogs::top_postings(&mut conn, catalog.no, "label", 10_000)?;
    let (mut head, mut covered) = (Vec::new(), 0);
    for (label, count) in &labels_by_size {
        if covered >= catalog.track_count / 10 {
            break;
        }
        covered += count;
        head.push(label.clone());
    }
    let slice_of = |conn: &mut DbConnection,
                    labels: Vec<String>,
                    name: &str|
     -> Result<catalogs::Slice, BenchError> {
        let selector = Selector {
            labels: Some(labels),
            ..Selector::default()
        }
        .validate()
        .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
        let set = evaluate_on(conn, &catalog, &selector)?;
        let slice = catalogs::Slice {
            id: new_id(),
            catalog_id: catalog.id.clone(),
            organization_id: licensor.id.clone(),
            name: name.into(),
            selector: "{}".into(),
            track_count: set.len() as i64,
            catalog_track_count: catalog.track_count,
            bitmap: set.to_bytes(),
            content_hash: set.content_hash(),
            frozen_at: None,
            created_at: now(),
        };
        catalogs::insert_slice(conn, &slice)?;
        Ok(slice)
    };
    let big = slice_of(&mut conn, head.clone(), "head labels")?;

    // Existing grants: tail labels (disjoint from the slice), CN, long terms, non-exclusive.
    let tail: Vec<&String> = labels_by_size
        .iter()
        .map(|(l, _)| l)
        .filter(|l| !head.contains(l))
        .collect();
    if tail.is_empty() {
        return Err(BenchError::Setup("the catalog has too few labels".into()));
    }
    for i in 0..existing {
        let label = tail[i % tail.len()].clone();
        let slice = slice_of(&mut conn, vec![label], "tail label")?;
        // A fixture: an executed deal row for the grant to belong to.
        let deal_id = new_id();
        crate::db::deals::insert_deal(
            &mut conn,
            &crate::db::deals::DealRow {
                id: deal_id.clone(),
                name: format!("fixture {i}"),
                licensor_org_id: licensor.id.clone(),
                licensee_org_id: licensee.id.clone(),
                opened_by: "licensee".into(),
                offer_id: None,
                request_id: None,
                catalog_id: catalog.id.clone(),
                state: "executed".into(),
                turn: None,
                revision: 1,
                agreed_revision: Some(1),
                version: 1,
                respond_by: None,
                expiring_notified: false,
                created_at: at,
                updated_at: at,
            },
        )?;
        insert_grant(
            &mut conn,
            &GrantRow {
                id: new_id(),
                deal_id,
                licensor_org_id: licensor.id.clone(),
                licensee_org_id: licensee.id.clone(),
                catalog_id: catalog.id.clone(),
                slice_id: slice.id.clone(),
                tracks: slice.bitmap.clone(),
                track_count: slice.track_count,
                tracks_hash: slice.content_hash.clone(),
                territories: r#"["CN"]"#.into(),
                usages: r#"["interactive_streaming"]"#.into(),
                start_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
                end_date: chrono::NaiveDate::from_ymd_opt(2050, 12, 31).unwrap_or_default(),
                exclusive: false,
                sublicensable: false,
                terms_hash: "bench".into(),
                status: "active".into(),
                terminated_at: None,
                termination_reason: None,
                created_at: now(),
            },
        )
        .map_err(|e| BenchError::Setup(format!("grant fixture: {e}")))?;
    }
    writeln!(out, "| measurement | result |\n| --- | --- |")?;
    writeln!(
        out,
        "| deal slice | {} tracks of {} |",
        big.track_count, catalog.track_count
    )?;
    writeln!(
        out,
        "| existing grants overlapping the deal's window | {existing} |"
    )?;

    let member = |org: &Organization, role: Role| Member {
        user_id: new_id(),
        name: "Bench".into(),
        organization_id: org.id.clone(),
        role,
    };
    let licensor_member = member(&licensor, Role::Owner);
    let licensee_member = member(&licensee, Role::Owner);
    let mut samples = Vec::new();
    for run in 0..runs {
        // Each run licenses another year, so earlier runs' grants never collide with it.
        let year = 2030 + run as i32;
        let terms = TermSheetInput {
            slice_id: big.id.clone(),
            territories: vec!["CN".into()],
            usages: vec!["interactive_streaming".into()],
            start_date: format!("{year}-01-01"),
            end_date: format!("{year}-12-31"),
            exclusive: true,
            sublicensable: false,
            currency: "CNY".into(),
            upfront_fee: Some("1000000.00".into()),
            minimum_guarantee: None,
            per_stream_rate: None,
            revenue_share_percent: None,
            installments: vec![crate::domain::terms::InstallmentInput {
                due_date: format!("{year}-01-15"),
                amount: "1000000.00".into(),
            }],
            clauses: None,
            respond_by: None,
        };
        let bench_err = |e: deals::DealError| BenchError::Setup(e.to_string());
        let opened = deals::open(
            &mut conn,
            &licensee_member,
            Origin::Direct {
                counterparty_id: licensor.id.clone(),
                role: Party::Licensee,
            },
            Some(terms),
            None,
        )
        .map_err(bench_err)?;
        let id = opened.deal.id.clone();
        let d = deals::transition(
            &mut conn,
            &licensee_member,
            &id,
            1,
            Action::Submit,
            Payload::default(),
        )
        .map_err(bench_err)?;
        let d = deals::transition(
            &mut conn,
            &licensor_member,
            &id,
            d.deal.version,
            Action::Accept,
            Payload::default(),
        )
        .map_err(bench_err)?;
        let hash = crate::db::deals::find_revision(&mut conn, &id, d.deal.revision)?
            .map(|r| r.terms_hash)
            .unwrap_or_default();
        let sign = |h: &str| Payload {
            terms_hash: Some(h.to_string()),
            ..Payload::default()
        };
        let d = deals::transition(
            &mut conn,
            &licensee_member,
            &id,
            d.deal.version,
            Action::Sign,
            sign(&hash),
        )
        .map_err(bench_err)?;
        let started = Instant::now();
        let done = deals::transition(
            &mut conn,
            &licensor_member,
            &id,
            d.deal.version,
            Action::Sign,
            sign(&hash),
        )
        .map_err(bench_err)?;
        samples.push(started.elapsed());
        if done.grant_id.is_none() {
            return Err(BenchError::Setup("the deal did not execute".into()));
        }
    }
    samples.sort();
    writeln!(
        out,
        "| executing signature, p50 of {runs} | {} |",
        ms(samples[samples.len() / 2])
    )?;
    writeln!(
        out,
        "| executing signature, max | {} |",
        ms(samples[samples.len() - 1])
    )?;
    Ok(())
}

// ---- marketplace seed -------------------------------------------------------------

/// What `cadenza bench seed-marketplace` builds.
#[derive(Debug, Clone)]
pub struct MarketSeed {
    pub organizations: usize,
    pub tracks_per_catalog: u64,
    pub offers_per_organization: usize,
    /// Password of every seeded owner (`bench+NN@cadenza.test`).
    pub password: String,
}

/// Seeds a marketplace at realistic scale for the browse load test
/// (docs/performance.md): `organizations` platforms, each with one catalog of
/// generated tracks and `offers_per_organization` published offers of slices cut by
/// genre, by label group, by release dates, or the whole catalog; one offer in ten
/// is targeted at the next organization. Prints what a load generator needs.
pub fn seed_marketplace(
    database_url: &str,
    seed: &MarketSeed,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    use crate::db::marketplace::{self as market, Offer};
    use crate::domain::period::Period;
    use crate::domain::terms::{InstallmentInput, TermSheet, TermSheetInput, TermsContext};
    use crate::domain::territory::Territories;
    use crate::domain::usage::Usages;

    let target = DatabaseTarget::parse(database_url)?;
    let db = Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let password_hash = crate::auth::password::hash(&seed.password)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let territory_sets: [&[&str]; 5] = [
        &["worldwide"],
        &["CN", "HK", "TW"],
        &["US", "CA", "MX"],
        &["DE", "FR", "GB", "SE"],
        &["JP", "KR"],
    ];
    let usages = [
        "interactive_streaming",
        "non_interactive_streaming",
        "download",
    ];
    let currencies = ["USD", "EUR", "CNY"];
    let genres = [
        "Pop",
        "Hip-Hop",
        "Rock",
        "Electronic",
        "R&B",
        "Mandopop",
        "Jazz",
    ];
    let holding_start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
    let holding_end = chrono::NaiveDate::from_ymd_opt(2040, 12, 31).unwrap_or_default();
    let expires_at = chrono::NaiveDate::from_ymd_opt(2030, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let started = Instant::now();
    let mut org_ids = Vec::new();
    for i in 0..seed.organizations {
        let at = now();
        let org = Organization {
            id: new_id(),
            name: format!("Platform {:02}", i + 1),
            kind: "platform".into(),
            created_at: at,
        };
        accounts::insert_organization(&mut conn, &org)?;
        accounts::insert_user(
            &mut conn,
            &accounts::User {
                id: new_id(),
                organization_id: org.id.clone(),
                email: format!("bench+{:02}@cadenza.test", i + 1),
                name: format!("Owner {:02}", i + 1),
                password_hash: password_hash.clone(),
                role: "owner".into(),
                created_at: at,
                updated_at: at,
            },
        )?;
        org_ids.push(org.id);
    }
    let mut offers_written = 0usize;
    let mut tracks_written = 0u64;
    for (i, org_id) in org_ids.iter().enumerate() {
        let territories = territory_sets[i % territory_sets.len()];
        let at = now();
        let catalog = catalogs::insert_catalog(
            &mut conn,
            &NewCatalog {
                id: new_id(),
                organization_id: org_id.clone(),
                name: format!("Catalog of Platform {:02}", i + 1),
                territories: serde_json::to_string(territories)
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                usages: serde_json::to_string(&usages)
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                holding_start,
                holding_end,
                sublicensable: true,
                track_count: 0,
                created_at: at,
                updated_at: at,
            },
        )?;
        let mut csv = Vec::with_capacity(seed.tracks_per_catalog as usize * 96);
        generate_catalog(
            &mut csv,
            seed.tracks_per_catalog,
            i as u64 + 1,
            ImportFormat::Csv,
        )?;
        let report = import::import_tracks(
            &mut conn,
            &catalog,
            None,
            std::io::Cursor::new(csv),
            ImportFormat::Csv,
            chrono::Utc::now().date_naive(),
            &mut (),
        )?;
        tracks_written += report.imported;
        let catalog = catalogs::find_catalog(&mut conn, &catalog.id)?
            .ok_or_else(|| BenchError::Setup("catalog vanished".into()))?;
        let labels: Vec<String> = catalogs::top_postings(&mut conn, catalog.no, "label", 400)?
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        let ctx = TermsContext {
            territories: Territories::parse_list(
                &territories
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| BenchError::Setup(format!("{e:?}")))?,
            usages: Usages::parse_list(&usages.map(String::from))
                .map_err(|e| BenchError::Setup(format!("{e:?}")))?,
            period: Period::new(holding_start, holding_end)
                .map_err(|e| BenchError::Setup(e.to_string()))?,
            sublicensable: true,
        };
        for j in 0..seed.offers_per_organization {
            let selector = match j % 4 {
                0 => Selector {
                    genres: Some(vec![genres[j % genres.len()].to_string()]),
                    ..Selector::default()
                },
                1 => Selector {
                    labels: Some(labels.iter().skip(j * 7 % 300).take(40).cloned().collect()),
                    ..Selector::default()
                },
                2 => Selector {
                    released_from: chrono::NaiveDate::from_ymd_opt(2010 + (j % 10) as i32, 1, 1),
                    released_to: chrono::NaiveDate::from_ymd_opt(2024, 12, 31),
                    ..Selector::default()
                },
                _ => Selector::default(),
            }
            .validate()
            .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
            let set = evaluate_on(&mut conn, &catalog, &selector)?;
            let slice = catalogs::Slice {
                id: new_id(),
                catalog_id: catalog.id.clone(),
                organization_id: org_id.clone(),
                name: format!("Slice {j}"),
                selector: serde_json::to_string(&selector.to_selector())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                track_count: set.len() as i64,
                catalog_track_count: catalog.track_count,
                bitmap: set.to_bytes(),
                content_hash: set.content_hash(),
                frozen_at: None,
                created_at: now(),
            };
            catalogs::insert_slice(&mut conn, &slice)?;
            let fee = format!("{}.00", 50_000 + (i * 7919 + j * 104_729) % 5_000_000);
            let input = TermSheetInput {
                slice_id: slice.id.clone(),
                territories: territories.iter().map(|t| t.to_string()).collect(),
                usages: usages[..1 + j % 3].iter().map(|u| u.to_string()).collect(),
                start_date: "2027-01-01".into(),
                end_date: "2029-12-31".into(),
                exclusive: j % 5 == 0,
                sublicensable: false,
                currency: currencies[(i + j) % currencies.len()].into(),
                upfront_fee: Some(fee.clone()),
                minimum_guarantee: None,
                per_stream_rate: Some("0.0040".into()),
                revenue_share_percent: None,
                installments: vec![InstallmentInput {
                    due_date: "2027-01-15".into(),
                    amount: fee,
                }],
                clauses: None,
                respond_by: None,
            };
            let sheet = TermSheet::parse(&input, &ctx, chrono::Utc::now())
                .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
            let currency = sheet.currency();
            let at = now();
            let offer = Offer {
                id: new_id(),
                organization_id: org_id.clone(),
                slice_id: slice.id.clone(),
                catalog_id: catalog.id.clone(),
                catalog_no: catalog.no,
                title: format!("Platform {:02} offer {j}", i + 1),
                terms: sheet.canonical_json(),
                territories: serde_json::to_string(sheet.territories())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                usages: serde_json::to_string(sheet.usages())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                exclusive: sheet.exclusive(),
                currency: currency.code().into(),
                asking_minor: currency
                    .to_minor_units(sheet.scheduled_total())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                track_count: slice.track_count,
                sample_track_ids: serde_json::to_string(&set.sample(market::SAMPLE_TRACKS))
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                start_date: sheet.period().start,
                end_date: sheet.period().end,
                visibility: if j % 10 == 9 {
                    market::VISIBILITY_TARGETED
                } else {
                    market::VISIBILITY_PUBLIC
                }
                .into(),
                status: market::OFFER_PUBLISHED.into(),
                expires_at,
                created_at: at,
                published_at: Some(at),
                updated_at: at,
            };
            let facets = market::slice_facets(&mut conn, &offer.id, catalog.no, &set)?;
            let targets = if j % 10 == 9 {
                vec![org_ids[(i + 1) % org_ids.len()].clone()]
            } else {
                Vec::new()
            };
            crate::db::write_transaction(&mut conn, |conn| {
                market::insert_offer(conn, &offer, &targets, &facets)
            })?;
            offers_written += 1;
        }
        writeln!(
            out,
            "catalog {}/{}: {} tracks, {} offers so far ({:.0} s)",
            i + 1,
            org_ids.len(),
            catalog.track_count,
            offers_written,
            started.elapsed().as_secs_f64()
        )?;
    }
    // An ISRC every catalog generated with seed 1 has: the first row of catalog 1.
    let first = catalogs::find_catalog_of(&mut conn, &org_ids[0])?;
    let probe = match first {
        Some(no) => catalogs::tracks_by_ids(&mut conn, no, &[0])?
            .first()
            .and_then(|r| Isrc::from_key(r.isrc_key))
            .map(Isrc::into_string),
        None => None,
    };
    writeln!(
        out,
        "seeded {} organizations, {} tracks, {} offers in {:.0} s\nlogin: bench+01@cadenza.test / {}\nprobe ISRC: {}",
        org_ids.len(),
        tracks_written,
        offers_written,
        started.elapsed().as_secs_f64(),
        seed.password,
        probe.unwrap_or_default()
    )?;
    Ok(())
}
