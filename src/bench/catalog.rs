//! `cadenza bench catalog`: import time and peak memory per backend, selector
//! latency (cold and warm postings cache), slice size, listing and membership
//! latency, on a generated catalog.

use super::*;

/// A selector evaluated through a postings cache. Cold: the first run on a
/// fresh cache, which fetches every posting and fills the cache (median of 5,
/// each on a new cache, so one disturbed run does not make the figure). Warm:
/// repeated runs on a filled cache (median of 7), which read the catalog's
/// postings version and take every posting from the cache, as a node does
/// while a user edits and re-runs a selector.
pub(super) fn cold_and_warm(
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

pub(super) fn write_cold_warm(
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

/// What `serve` does at start and after an import (`catalogs::warm_postings`): load the
/// catalog's postings into a fresh cache; then the first evaluation of `selector`.
pub(super) fn write_after_warm_up(
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
pub(super) struct SelectorProfile {
    rows: usize,
    bytes: usize,
    fetch: Duration,
    decode: Duration,
    evaluate: Duration,
    tracks: u64,
}

pub(super) fn profile_selector(
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

pub(super) fn write_profile(
    out: &mut dyn Write,
    name: &str,
    p: &SelectorProfile,
) -> Result<(), BenchError> {
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
            recordings: Some(crate::domain::recording::RecordingSet::new().to_bytes()),
            backing_grant_id: None,
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
    write_slice_size(out, "that slice (whole labels) stored", &slice)?;
    let (t, recordings) = time_runs(3, || {
        Ok(catalogs::recordings_of_tracks(
            &mut conn, catalog.no, &slice,
        )?)
    })?;
    writeln!(
        out,
        "| that slice's recordings read (track ids → ISRC keys, {} recordings, {} KiB stored) | {} |",
        recordings.len(),
        recordings.to_bytes().len() / 1024,
        ms(t)
    )?;
    let (t, _) = time_runs(7, || Ok(recordings.content_hash()))?;
    writeln!(
        out,
        "| content hash of that slice (sorted ISRCs) | {} |",
        ms(t)
    )?;

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

    let stored = crate::catalogs::slices::new_slice(
        &mut conn,
        &catalog,
        "bench".into(),
        "{}".into(),
        &slice,
    )?;
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
    offered_slice_listing(&mut conn, out, &organization, &catalog, &stored, middle)?;

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
pub(super) fn write_slice_size(
    out: &mut dyn Write,
    name: &str,
    set: &TrackSet,
) -> Result<(), BenchError> {
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

/// What a licensee pays to read an offered slice (issue #14): the slice above offered
/// publicly, read by another organization through the handlers' own path
/// (`api::offers::offered_slice`: the visibility check of `GET /offers/{id}` and the
/// slice; `api::track_lists::slice_track_page`: the page), 1,000 tracks as two pages of
/// 500 (the largest page), each page loading the offer and slice afresh as a request
/// does; and one 5,000-track chunk of `GET /offers/{id}/tracks.csv`.
fn offered_slice_listing(
    conn: &mut DbConnection,
    out: &mut dyn Write,
    licensor: &Organization,
    catalog: &Catalog,
    slice: &catalogs::Slice,
    middle: Option<u32>,
) -> Result<(), BenchError> {
    use crate::api::csv_export::{track_csv_chunk, TRACKS_PER_CHUNK, TRACK_COLUMNS};
    use crate::api::offers::offered_slice;
    use crate::api::track_lists::{slice_track_page, TrackPaging};
    use crate::db::marketplace::{self as market, Offer};
    use crate::domain::listing::{OfferState, Visibility};

    let api = |e: crate::api::problem::ApiError| BenchError::Setup(e.to_string());
    let at = now();
    let licensee = Organization {
        id: new_id(),
        name: "Benchmark Licensee".into(),
        kind: "platform".into(),
        created_at: at,
    };
    accounts::insert_organization(conn, &licensee)?;
    let set = catalogs::decode_set(&slice.bitmap)?;
    let offer = Offer {
        id: new_id(),
        organization_id: licensor.id.clone(),
        slice_id: slice.id.clone(),
        catalog_id: catalog.id.clone(),
        catalog_no: catalog.no,
        title: "Benchmark offer".into(),
        // Never parsed on this path; a real offer holds its canonical term sheet.
        terms: "{}".into(),
        territories: r#"["worldwide"]"#.into(),
        usages: r#"["interactive_streaming"]"#.into(),
        exclusive: false,
        currency: "USD".into(),
        asking_minor: 0,
        track_count: slice.track_count,
        sample_track_ids: serde_json::to_string(&set.sample(market::SAMPLE_TRACKS))
            .map_err(|e| BenchError::Setup(e.to_string()))?,
        start_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
        end_date: chrono::NaiveDate::from_ymd_opt(2029, 12, 31).unwrap_or_default(),
        visibility: Visibility::Public.as_str().into(),
        status: OfferState::Published.as_str().into(),
        expires_at: at + chrono::Duration::days(30),
        created_at: at,
        published_at: Some(at),
        updated_at: at,
    };
    crate::db::write_transaction(conn, |conn| market::insert_offer(conn, &offer, &[], &[]))?;
    for (name, start) in [("first 1,000", None), ("1,000 from the middle", middle)] {
        let (t, rows) = time_runs(21, || {
            let mut after = start;
            let mut rows = 0;
            for _ in 0..2 {
                let slice = offered_slice(conn, &licensee.id, &offer.id).map_err(api)?;
                let page = slice_track_page(conn, &slice, TrackPaging { after, limit: 500 })
                    .map_err(api)?;
                rows += page.items.len();
                after = page
                    .next_cursor
                    .as_deref()
                    .map(|c| crate::api::catalogs::track_cursor(Some(c)))
                    .transpose()
                    .map_err(api)?
                    .flatten();
            }
            Ok(rows)
        })?;
        writeln!(
            out,
            "| list an offered slice's tracks as a licensee, {name} (2 pages of 500, offer and slice loaded per page; target < 20 ms) | {} ({rows} rows) |",
            ms(t)
        )?;
    }
    let (t, bytes) = time_runs(7, || {
        let ids = set.page_after(middle, TRACKS_PER_CHUNK);
        let rows = catalogs::tracks_by_ids(conn, catalog.no, &ids)?;
        Ok(track_csv_chunk(rows, TRACK_COLUMNS, false)
            .map_err(api)?
            .len())
    })?;
    writeln!(
        out,
        "| one {TRACKS_PER_CHUNK}-track chunk of an offer's CSV, read and written | {} ({bytes} bytes) |",
        ms(t)
    )?;
    Ok(())
}
