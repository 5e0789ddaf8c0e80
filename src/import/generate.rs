//! A synthetic catalog with realistic shape, for demos, tests and benchmarks:
//! a few thousand labels and tens of thousands of artists with heavy-tailed
//! (Zipf) popularity, a few dozen genres, release dates over decades skewed to
//! recent years, 1–3 artists per track, valid and unique ISRCs. The same seed
//! always gives the same file.
//!
//! Two delivery orders ([`DeliveryOrder`]). The default, kept byte for byte
//! for existing fixtures and demos, draws every row's label on its own, so
//! labels interleave over the whole file. [`DeliveryOrder::LabelByLabel`] is
//! the order a platform's catalog export comes in: label by label (labels in
//! no particular order), and within a label release by release in
//! release-date order, the tracks of a release together with its date, genre
//! and main artist. The import numbers tracks in file order, so there a
//! label's tracks get neighbouring ids — which keeps label slices small (a few
//! contiguous id ranges) — while genres, years and artists still spread over
//! the whole id space. In both orders how many tracks each label has is drawn
//! per track from the same Zipf distribution.

use std::io::Write;

use chrono::Datelike;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use super::ImportFormat;

pub const LABELS: u64 = 4_000;
pub const ARTISTS: u64 = 40_000;

const GENRES: [(&str, u32); 24] = [
    ("Pop", 180),
    ("Hip-Hop", 140),
    ("Rock", 110),
    ("Electronic", 90),
    ("R&B", 70),
    ("Mandopop", 60),
    ("K-Pop", 50),
    ("Latin", 50),
    ("Country", 40),
    ("Jazz", 30),
    ("Classical", 30),
    ("Indie", 30),
    ("Metal", 25),
    ("Folk", 20),
    ("Soundtrack", 20),
    ("Cantopop", 15),
    ("J-Pop", 15),
    ("Reggae", 10),
    ("Blues", 10),
    ("Soul", 10),
    ("Punk", 8),
    ("Ambient", 7),
    ("World", 5),
    ("Children", 5),
];
const COUNTRIES: [&str; 12] = [
    "US", "GB", "CN", "HK", "JP", "KR", "DE", "FR", "SE", "BR", "QM", "QZ",
];
const WORDS: [&str; 48] = [
    "Midnight",
    "River",
    "Golden",
    "Echo",
    "Neon",
    "Summer",
    "Paper",
    "Silver",
    "Heart",
    "City",
    "Dream",
    "Fire",
    "Ocean",
    "Shadow",
    "Light",
    "Moon",
    "Road",
    "Rain",
    "Velvet",
    "Wild",
    "Glass",
    "Thunder",
    "Blue",
    "Crimson",
    "Electric",
    "Quiet",
    "Falling",
    "Rising",
    "Lost",
    "Forever",
    "Starlight",
    "Northern",
    "Lotus",
    "Jade",
    "Dragon",
    "Harbor",
    "Winter",
    "Spring",
    "Autumn",
    "Garden",
    "Mirror",
    "Signal",
    "Horizon",
    "Rhythm",
    "Soul",
    "Satellite",
    "Cherry",
    "Tide",
];
/// Tracks per registrant code: keeps every ISRC's designation code below 100,000.
const PER_REGISTRANT: u64 = 90_000;
const _: () = assert!(PER_REGISTRANT < 100_000);

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The order rows are written in (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryOrder {
    /// Each row draws its label on its own: labels interleave over the file.
    #[default]
    Shuffled,
    /// Label by label, release by release, as catalog exports come.
    LabelByLabel,
}

/// One release of a label: its tracks share date, genre and main artist.
struct Release {
    date: chrono::NaiveDate,
    genre: &'static str,
    artist: u64,
    tracks: u64,
}

/// Everything a row holds but its title and duration.
struct RowFacts<'a> {
    index: u64,
    label: u64,
    artists: &'a [String],
    genre: &'a str,
    date: chrono::NaiveDate,
}

fn pick_genre(rng: &mut StdRng, total: u32) -> &'static str {
    let mut pick = rng.gen_range(0..total);
    GENRES
        .iter()
        .find(|(_, w)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .map_or("Pop", |g| g.0)
}

/// Recent years dominate streaming catalogs: exponential decay back from 2026.
fn release_date(rng: &mut StdRng) -> chrono::NaiveDate {
    let age = (-(1.0 - rng.gen::<f64>()).ln() * 9.0) as i32;
    let year = (2026 - age).max(1955);
    chrono::NaiveDate::from_ymd_opt(year, rng.gen_range(1..=12), rng.gen_range(1..=28))
        .unwrap_or_default()
}

/// Singles, EPs and albums, in roughly the shares stores see.
fn release_size(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..100) {
        0..=34 => rng.gen_range(1..=2),
        35..=59 => rng.gen_range(3..=6),
        _ => rng.gen_range(8..=16),
    }
}

/// Draws the title and duration (in this order, after the row's other draws)
/// and writes the row.
fn write_row(
    out: &mut dyn Write,
    format: ImportFormat,
    rng: &mut StdRng,
    row: RowFacts<'_>,
) -> std::io::Result<()> {
    let registrant = row.index / PER_REGISTRANT;
    let isrc = format!(
        "{}{}{:02}{:05}",
        COUNTRIES[(registrant % COUNTRIES.len() as u64) as usize],
        base36(registrant, 3),
        row.date.year() % 100,
        row.index % PER_REGISTRANT
    );
    let title = format!(
        "{} {}",
        WORDS[rng.gen_range(0..WORDS.len())],
        WORDS[rng.gen_range(0..WORDS.len())]
    );
    let duration = rng.gen_range(90_000..420_000);
    let label_name = format!("Label {:04}", row.label);
    let (artists, genre, date) = (row.artists, row.genre, row.date);
    match format {
        ImportFormat::Csv => writeln!(
            out,
            "{isrc},{title},{},{label_name},{genre},{date},{duration}",
            artists.join(";")
        ),
        ImportFormat::Ndjson => writeln!(
            out,
            "{}",
            serde_json::json!({"isrc": isrc, "title": title, "artists": artists, "label": label_name,
                "genre": genre, "release_date": date.to_string(), "duration_ms": duration})
        ),
        ImportFormat::Ern | ImportFormat::ErnArchive => Err(std::io::Error::other(
            "ERN messages are not rows: see bench::ddex for generated ERN batches",
        )),
    }
}

/// Writes `tracks` rows (CSV with header, or NDJSON) in the default order.
/// Errors are the writer's.
pub fn generate_catalog(
    out: &mut dyn Write,
    tracks: u64,
    seed: u64,
    format: ImportFormat,
) -> std::io::Result<()> {
    generate_catalog_in(out, tracks, seed, format, DeliveryOrder::Shuffled)
}

/// Writes `tracks` rows (CSV with header, or NDJSON) in the given order.
pub fn generate_catalog_in(
    out: &mut dyn Write,
    tracks: u64,
    seed: u64,
    format: ImportFormat,
    order: DeliveryOrder,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let label_dist = Zipf::new(LABELS, 0.8).map_err(std::io::Error::other)?;
    let artist_dist = Zipf::new(ARTISTS, 1.05).map_err(std::io::Error::other)?;
    let genre_total: u32 = GENRES.iter().map(|g| g.1).sum();
    if format == ImportFormat::Csv {
        writeln!(
            out,
            "isrc,title,artists,label,genre,release_date,duration_ms"
        )?;
    }
    if order == DeliveryOrder::Shuffled {
        // The draws happen in the original order, so a seed gives the same file as ever.
        for index in 0..tracks {
            let label = label_dist.sample(&mut rng) as u64;
            let artist_count = match rng.gen_range(0..100) {
                0..=79 => 1,
                80..=94 => 2,
                _ => 3,
            };
            let artists: Vec<String> = (0..artist_count)
                .map(|_| format!("Artist {:05}", artist_dist.sample(&mut rng) as u64))
                .collect();
            let genre = pick_genre(&mut rng, genre_total);
            let date = release_date(&mut rng);
            let row = RowFacts {
                index,
                label,
                artists: &artists,
                genre,
                date,
            };
            write_row(out, format, &mut rng, row)?;
        }
        return Ok(());
    }

    // Tracks per label: each track draws its label, as in the shuffled order.
    let mut per_label = vec![0u64; LABELS as usize + 1];
    for _ in 0..tracks {
        let label = label_dist.sample(&mut rng) as usize;
        if let Some(count) = per_label.get_mut(label) {
            *count += 1;
        }
    }
    let mut delivery: Vec<usize> = (1..per_label.len()).filter(|&l| per_label[l] > 0).collect();
    delivery.shuffle(&mut rng);

    let mut index = 0u64;
    for label in delivery {
        let mut left = per_label[label];
        let mut releases = Vec::new();
        while left > 0 {
            let size = release_size(&mut rng).min(left);
            left -= size;
            releases.push(Release {
                date: release_date(&mut rng),
                genre: pick_genre(&mut rng, genre_total),
                artist: artist_dist.sample(&mut rng) as u64,
                tracks: size,
            });
        }
        releases.sort_by_key(|r| r.date);
        for release in releases {
            for _ in 0..release.tracks {
                let featured = match rng.gen_range(0..100) {
                    0..=79 => 0,
                    80..=94 => 1,
                    _ => 2,
                };
                let mut artists = vec![format!("Artist {:05}", release.artist)];
                for _ in 0..featured {
                    artists.push(format!("Artist {:05}", artist_dist.sample(&mut rng) as u64));
                }
                let row = RowFacts {
                    index,
                    label: label as u64,
                    artists: &artists,
                    genre: release.genre,
                    date: release.date,
                };
                write_row(out, format, &mut rng, row)?;
                index += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::isrc::Isrc;
    use std::collections::HashSet;

    #[test]
    fn rows_are_valid_unique_and_reproducible() {
        let mut a = Vec::new();
        generate_catalog(&mut a, 5_000, 7, ImportFormat::Csv).unwrap();
        let mut b = Vec::new();
        generate_catalog(&mut b, 5_000, 7, ImportFormat::Csv).unwrap();
        assert_eq!(a, b, "same seed, same file");
        let text = String::from_utf8(a).unwrap();
        let mut isrcs = HashSet::new();
        let mut labels = HashSet::new();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), 7, "{line}");
            assert!(isrcs.insert(Isrc::parse(cols[0]).unwrap()), "unique ISRCs");
            labels.insert(cols[3].to_string());
        }
        assert_eq!(isrcs.len(), 5_000);
        assert!(
            labels.len() > 200,
            "a long tail of labels: {}",
            labels.len()
        );
    }

    #[test]
    fn rows_come_label_by_label_in_release_order() {
        let mut a = Vec::new();
        generate_catalog_in(
            &mut a,
            20_000,
            3,
            ImportFormat::Csv,
            DeliveryOrder::LabelByLabel,
        )
        .unwrap();
        let text = String::from_utf8(a).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 20_000);
        // Each label's rows are one contiguous run, its dates never going back.
        let mut finished = HashSet::new();
        let mut genres = HashSet::new();
        for pair in rows.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            genres.insert(a[4]);
            if a[3] == b[3] {
                assert!(a[5] <= b[5], "release order within {}", a[3]);
            } else {
                assert!(finished.insert(a[3]), "{} delivered twice", a[3]);
            }
        }
        // Labels are not delivered in name order.
        let first_labels: Vec<&str> = rows.iter().map(|r| r[3]).take(1).collect();
        assert_ne!(first_labels, vec!["Label 0001"]);
        // Heavy tail: the biggest label holds far more than an average one.
        let top = rows.iter().filter(|r| r[3] == "Label 0001").count();
        assert!(
            top > 20_000 / finished.len() * 10,
            "{top} of {}",
            finished.len()
        );
        assert!(genres.len() > 15, "{genres:?}");
        // Valid, unique ISRCs here too.
        let isrcs: HashSet<Isrc> = rows.iter().map(|r| Isrc::parse(r[0]).unwrap()).collect();
        assert_eq!(isrcs.len(), 20_000);
    }

    #[test]
    fn both_orders_draw_label_sizes_from_the_same_distribution() {
        let labels = |order| {
            let mut a = Vec::new();
            generate_catalog_in(&mut a, 30_000, 9, ImportFormat::Csv, order).unwrap();
            let text = String::from_utf8(a).unwrap();
            let mut counts = std::collections::HashMap::new();
            for line in text.lines().skip(1) {
                *counts
                    .entry(line.split(',').nth(3).unwrap().to_string())
                    .or_insert(0) += 1;
            }
            counts
        };
        let (shuffled, ordered) = (
            labels(DeliveryOrder::Shuffled),
            labels(DeliveryOrder::LabelByLabel),
        );
        // Different draws, same shape: the biggest label's share and the
        // number of labels agree within sampling noise.
        let near =
            |a: usize, b: usize, tolerance: f64| (a as f64 / b as f64 - 1.0).abs() < tolerance;
        assert!(near(shuffled["Label 0001"], ordered["Label 0001"], 0.15));
        assert!(near(shuffled.len(), ordered.len(), 0.1));
        let biggest = ordered.values().max().copied().unwrap();
        assert_eq!(biggest, ordered["Label 0001"]);
    }

    #[test]
    fn registrant_codes_roll_over_before_designations_overflow() {
        assert_eq!(base36(0, 3), "000");
        assert_eq!(base36(46_655, 3), "ZZZ");
    }
}
