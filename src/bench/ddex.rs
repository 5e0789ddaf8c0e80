//! `cadenza bench ddex-import`: a batch of generated ERN 4.3 messages (albums of
//! 10 to 20 recordings, each with a worldwide streaming and download deal, from the
//! same day or, with `--deal-per-album`, from a day of its own) imported
//! through the HTTP API as one tar, against the CSV import of the very same
//! recordings into another catalog (`docs/performance.md`, "DDEX ERN import").

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::BenchError;
use crate::app::Application;
use crate::config::ServeSettings;
use crate::demo::client::{str_field, ApiClient};

const GENRES: [&str; 6] = ["Pop", "Rock", "Hip-Hop", "Electronic", "Jazz", "Classical"];

/// One generated recording, written both as ERN and as a CSV row.
struct Recording {
    isrc: String,
    title: String,
    artist: String,
    label: String,
    genre: &'static str,
    release_date: chrono::NaiveDate,
    duration_ms: u32,
}

/// The deal of every album starts on the same day, or each on a day of its own (so
/// that each album's recordings get a holding of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deals {
    Shared,
    PerAlbum,
}

fn message_xml(index: usize, recordings: &[Recording], deal_start: chrono::NaiveDate) -> String {
    use std::fmt::Write as _;
    let first = &recordings[0];
    let mut out = String::with_capacity(2048 + recordings.len() * 700);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" ReleaseProfileVersionId="Audio" LanguageAndScriptCode="en" AvsVersionId="3">
  <MessageHeader><MessageId>BENCH-{index}</MessageId><MessageSender><PartyId>PADPIDA0000000001</PartyId></MessageSender><MessageRecipient><PartyId>PADPIDA0000000002</PartyId></MessageRecipient><MessageCreatedDateTime>2026-01-01T00:00:00Z</MessageCreatedDateTime></MessageHeader>
  <PartyList><Party><PartyReference>PLabel</PartyReference><PartyName><FullName>{label}</FullName></PartyName></Party><Party><PartyReference>PArtist</PartyReference><PartyName><FullName>{artist}</FullName></PartyName></Party></PartyList>
  <ResourceList>
"#,
        label = first.label,
        artist = first.artist
    );
    for (i, r) in recordings.iter().enumerate() {
        let seconds = r.duration_ms / 1000;
        let _ = writeln!(
            out,
            "    <SoundRecording><ResourceReference>A{n}</ResourceReference><Type>MusicalWorkSoundRecording</Type><SoundRecordingEdition><ResourceId><ISRC>{isrc}</ISRC></ResourceId></SoundRecordingEdition><DisplayTitleText>{title}</DisplayTitleText><DisplayArtist SequenceNumber=\"1\"><ArtistPartyReference>PArtist</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist><Duration>PT{m}M{s}S</Duration></SoundRecording>",
            n = i + 1,
            isrc = r.isrc,
            title = r.title,
            m = seconds / 60,
            s = seconds % 60,
        );
    }
    let _ = write!(
        out,
        "  </ResourceList>\n  <ReleaseList><Release><ReleaseReference>R0</ReleaseReference><ReleaseType>Album</ReleaseType><ReleaseId><ICPN>{icpn:013}</ICPN></ReleaseId><DisplayTitleText>Album {index}</DisplayTitleText><ReleaseLabelReference>PLabel</ReleaseLabelReference><Genre><GenreText>{genre}</GenreText></Genre><OriginalReleaseDate>{date}</OriginalReleaseDate><ResourceGroup>",
        icpn = 1_000_000_000_000u64 + index as u64,
        genre = first.genre,
        date = first.release_date,
    );
    for i in 0..recordings.len() {
        let _ = write!(
            out,
            "<ResourceGroupContentItem><SequenceNumber>{n}</SequenceNumber><ReleaseResourceReference>A{n}</ReleaseResourceReference></ResourceGroupContentItem>",
            n = i + 1
        );
    }
    let _ = write!(
        out,
        "</ResourceGroup></Release></ReleaseList>\n  <DealList><ReleaseDeal><DealReleaseReference>R0</DealReleaseReference><Deal><DealTerms><TerritoryCode>Worldwide</TerritoryCode><ValidityPeriod><StartDate>{deal_start}</StartDate></ValidityPeriod><CommercialModelType>SubscriptionModel</CommercialModelType><UseType>OnDemandStream</UseType><UseType>PermanentDownload</UseType></DealTerms></Deal></ReleaseDeal></DealList>\n</ern:NewReleaseMessage>\n"
    );
    out
}

/// Writes the batch (`batch.tar`) and the CSV of the same recordings (`same.csv`);
/// returns how many recordings there are.
pub fn generate_batch(
    dir: &Path,
    messages: usize,
    deals: Deals,
    seed: u64,
) -> Result<(PathBuf, PathBuf, u64), BenchError> {
    let first_day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .ok_or_else(|| BenchError::Setup("date".into()))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let tar_path = dir.join("batch.tar");
    let csv_path = dir.join("same.csv");
    let mut tar = tar::Builder::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&tar_path)?,
    ));
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(&csv_path)?);
    writeln!(
        csv,
        "isrc,title,artists,label,genre,release_date,duration_ms"
    )?;
    let mut serial = 0u64;
    for index in 0..messages {
        let count = rng.gen_range(10..=20);
        let label = format!("Label {:04}", index % 500);
        let artist = format!("Artist {:05}", rng.gen_range(0..20_000));
        let genre = GENRES[rng.gen_range(0..GENRES.len())];
        let release_date =
            chrono::NaiveDate::from_ymd_opt(2000 + (index % 26) as i32, 1 + (index % 12) as u32, 1)
                .ok_or_else(|| BenchError::Setup("date".into()))?;
        let recordings: Vec<Recording> = (0..count)
            .map(|_| {
                serial += 1;
                Recording {
                    // QZ + registrant from the serial, year 26, five digits.
                    isrc: format!("QZ{}26{:05}", base36(serial / 100_000, 3), serial % 100_000),
                    title: format!("Track {serial}"),
                    artist: artist.clone(),
                    label: label.clone(),
                    genre,
                    release_date,
                    duration_ms: rng.gen_range(90..420) * 1000,
                }
            })
            .collect();
        for r in &recordings {
            writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                r.isrc, r.title, r.artist, r.label, r.genre, r.release_date, r.duration_ms
            )?;
        }
        let deal_start = match deals {
            Deals::Shared => first_day,
            Deals::PerAlbum => first_day + chrono::TimeDelta::days(index as i64),
        };
        let xml = message_xml(index, &recordings, deal_start);
        let mut header = tar::Header::new_gnu();
        header.set_size(xml.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("delivery/{index:05}.xml"),
            xml.as_bytes(),
        )?;
    }
    tar.into_inner()?.flush()?;
    csv.flush()?;
    Ok((tar_path, csv_path, serial))
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    catalog: &str,
    content_type: &str,
    file: &Path,
) -> Result<(f64, Value), BenchError> {
    let body = tokio::fs::read(file).await?;
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/v1/catalogs/{catalog}/imports"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.is_success() {
        return Err(BenchError::Setup(format!(
            "import answered {status}: {text}"
        )));
    }
    let report = serde_json::from_str(&text).map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok((seconds, report))
}

/// Starts the server in-process on a loopback port, imports the batch and the CSV,
/// and prints both times and their ratio as Markdown.
pub fn run_ddex_bench(
    mut settings: ServeSettings,
    messages: usize,
    deals: Deals,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    settings.listen = ([127, 0, 0, 1], 0).into();
    settings.mail_worker = false;
    settings.sweep_interval_secs = 0;
    let (tar_path, csv_path, recordings) = generate_batch(dir, messages, deals, 18)?;
    let (tar_file, csv_file) = (tar_path.clone(), csv_path.clone());
    let results = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(|e| BenchError::Setup(e.to_string()))?;
        let base = format!("http://{}", app.address());
        let server = app.server_handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let api = ApiClient::new(base.clone());
        let session = api
            .register(&json!({
                "organization": {"name": "ERN bench platform", "kind": "platform"},
                "user": {"email": "owner@ern-bench.test", "password": "bench-password-1", "name": "Bench"}
            }))
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let mut catalogs = Vec::new();
        for name in ["ERN batch", "CSV of the same recordings"] {
            let catalog = api
                .create(
                    "/api/v1/catalogs",
                    &session.token,
                    &json!({"name": name, "territories": ["worldwide"], "usages": ["interactive_streaming", "download"],
                            "holding_start": "2020-01-01", "holding_end": "2060-12-31", "sublicensable": true}),
                )
                .await
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            catalogs.push(
                str_field(&catalog, "id")
                    .map_err(|e| BenchError::Setup(e.to_string()))?
                    .to_string(),
            );
        }
        let http = reqwest::Client::new();
        let ern = upload(&http, &base, &session.token, &catalogs[0], "application/x-tar", &tar_file).await?;
        let csv = upload(&http, &base, &session.token, &catalogs[1], "text/csv", &csv_file).await?;
        server.stop(true).await;
        Ok::<_, BenchError>((ern, csv))
    })?;
    let ((ern_s, ern_report), (csv_s, csv_report)) = results;
    let tar_mb = std::fs::metadata(&tar_path)?.len() as f64 / 1e6;
    let csv_mb = std::fs::metadata(&csv_path)?.len() as f64 / 1e6;
    writeln!(
        out,
        "| import (HTTP) | input | recordings imported | holdings set | time |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- |")?;
    writeln!(
        out,
        "| ERN batch: {messages} messages in one tar, {} | {tar_mb:.1} MB | {} | {} | {ern_s:.2} s |",
        match deals {
            Deals::Shared => "one deal shared by all albums",
            Deals::PerAlbum => "a deal per album",
        },
        ern_report["imported"],
        ern_report["holdings"]["holdings_set"]
    )?;
    writeln!(
        out,
        "| CSV of the same {recordings} recordings | {csv_mb:.1} MB | {} | – | {csv_s:.2} s |",
        csv_report["imported"]
    )?;
    writeln!(
        out,
        "\nERN / CSV: {:.2}× (target: within 2×)",
        ern_s / csv_s.max(1e-9)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_messages_read_back_with_their_deals() {
        let dir = tempfile::tempdir().unwrap();
        let (tar_path, csv_path, recordings) =
            generate_batch(dir.path(), 3, Deals::PerAlbum, 1).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
        let mut read = 0;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            let message = crate::import::ern::read_message(&bytes).unwrap();
            for r in &message.recordings {
                let input = r.input.clone().unwrap();
                input
                    .validate(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
                    .unwrap();
                assert!(r.holding.is_some());
                read += 1;
            }
        }
        assert_eq!(read, recordings);
        let lines = std::fs::read_to_string(csv_path).unwrap().lines().count() as u64;
        assert_eq!(lines, recordings + 1);
    }
}
