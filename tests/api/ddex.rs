//! DDEX ERN in and executed grants out, on both backends: every file of
//! `../shared/ddex/` imported (tracks, holdings, exact errors), batches as tar,
//! hostile XML refused, deals becoming delivered holdings (sets of recordings) that
//! a later message replaces and a takedown ends (reaching the grants built on them),
//! hand-typed recording overrides in their place, and a grant downloaded as a
//! DDEX-style deal and an ODRL Agreement.

use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{spawn_app, Backend, Reply, Session, TestApp};
use crate::on_both_backends;

on_both_backends!(
    every_ddex_sample_imports_as_expected,
    the_43_album_becomes_tracks_and_japanese_holdings_and_batches_are_tars,
    hostile_xml_is_refused_and_changes_nothing,
    a_later_message_replaces_the_deals_and_a_purge_ends_them,
    a_takedown_reaches_the_grants_and_grants_download_as_ddex_and_odrl,
    a_recording_override_by_hand_takes_the_place_of_its_delivered_holding,
);

const SAMPLES: &str = "../shared/ddex";

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{name}"))
        .unwrap_or_else(|e| panic!("{SAMPLES}/{name} (the DDEX samples beside the checkout): {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("tests/fixtures/ddex/{name}")).unwrap()
}

async fn post_body(
    app: &TestApp,
    token: &str,
    catalog: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/catalogs/{catalog}/imports")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await
}

async fn import_xml(app: &TestApp, token: &str, catalog: &str, body: Vec<u8>) -> Reply {
    post_body(app, token, catalog, "application/xml", body).await
}

async fn new_catalog(app: &TestApp, owner: &Session, name: &str) -> String {
    app.post(
        "/api/v1/catalogs",
        Some(&owner.access_token),
        &json!({"name": name, "territories": ["worldwide"],
                "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                "holding_start": "2000-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
    )
    .await
    .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn track_count(app: &TestApp, owner: &Session, catalog: &str) -> i64 {
    app.get(
        &format!("/api/v1/catalogs/{catalog}"),
        Some(&owner.access_token),
    )
    .await
    .assert_status(200)["track_count"]
        .as_i64()
        .unwrap()
}

/// The holding ERN deals gave each recording of a catalog: every current delivered
/// holding, once per ISRC it covers (with `key` the ISRC, `set` its own key).
async fn overrides(app: &TestApp, owner: &Session, catalog: &str) -> Vec<Value> {
    let holding = app
        .get(
            &format!("/api/v1/catalogs/{catalog}/holding"),
            Some(&owner.access_token),
        )
        .await;
    let mut held = Vec::new();
    for o in holding.assert_status(200)["overrides"].as_array().unwrap() {
        if o["scope"] != "delivery" {
            continue;
        }
        let page = app
            .get(
                &format!(
                    "/api/v1/catalogs/{catalog}/holding/versions/{}/isrcs?limit=1000",
                    o["id"].as_str().unwrap()
                ),
                Some(&owner.access_token),
            )
            .await;
        let page = page.assert_status(200);
        assert_eq!(page["next_cursor"], Value::Null);
        let isrcs = page["items"].as_array().unwrap();
        assert_eq!(o["recording_count"], isrcs.len());
        for isrc in isrcs {
            let mut one = o.clone();
            one["set"] = o["key"].clone();
            one["key"] = isrc.clone();
            held.push(one);
        }
    }
    held.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    held
}

enum Expect {
    /// imported, rejected rows, holdings set, the first rejection's (element, message).
    Report(u64, u64, u64, Option<(&'static str, &'static str)>),
    /// The 422's field and detail.
    Refused(&'static str, &'static str),
}

/// Every file of `../shared/ddex` (but the licence) into a fresh catalog.
async fn every_ddex_sample_imports_as_expected(backend: Backend) {
    use Expect::*;
    let cases: Vec<(&str, Expect)> = vec![
        ("dedex/001_audioalbum_complete.xml", Report(6, 0, 0, None)),
        ("dedex/002_erroneous_xml.xml", Refused("/NewReleaseMessage/ResourceList/SoundRecording",
            "line 157: malformed XML: syntax error: tag not closed: `>` not found before end of input")),
        ("dedex/003_version_not_supported.xml", Refused("/NewReleaseMessage",
            "line 11: ERN version 113 (namespace http://ddex.net/xml/ern/113) is not supported; supported ERN versions: 3.8.1, 3.8.2, 3.8.3, 4.1, 4.1.1, 4.2, 4.3")),
        ("dedex/004_xmlns_ern_missing.xml", Refused("/NewReleaseMessage",
            "line 10: the root element <ern:NewReleaseMessage> has no ERN namespace (e.g. xmlns:ern=\"http://ddex.net/xml/ern/43\"): the version cannot be told")),
        ("dedex/006_zero_sound_recordings.xml", Refused("/NewReleaseMessage/ResourceList",
            "line 29: the message has no audio recording (SoundRecording): nothing to import")),
        ("dedex/012_missing_isrc.xml", Report(5, 1, 0, Some(("/NewReleaseMessage/ResourceList/SoundRecording[4]", "the SoundRecording has no ISRC")))),
        ("dedex/013_isrc_empty_string.xml", Report(5, 1, 0, Some(("/NewReleaseMessage/ResourceList/SoundRecording[2]/SoundRecordingId/ISRC", "the ISRC is empty")))),
        ("dedex/014_missing_deal.xml", Report(9, 0, 9, None)),
        ("dedex/015_ern411.xml", Report(21, 0, 21, None)),
        ("dedex/016_utf8_artists.xml", Report(12, 0, 12, None)),
        ("dedex/017_purged_release.xml", Report(0, 1, 0, Some(("/PurgeReleaseMessage/PurgedRelease",
            "release ICPN:7665431654967 was never delivered to this catalog: nothing to purge")))),
        ("ern381/instance1.xml", Report(0, 2, 0, Some(("/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms",
            "208 is not an ISO 3166-1 alpha-2 territory code or Worldwide")))),
        ("ern383/instance1.xml", Report(0, 2, 0, Some(("/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms",
            "208 is not an ISO 3166-1 alpha-2 territory code or Worldwide")))),
        ("ern41/instance1.xml", Report(0, 2, 0, Some(("/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms",
            "2129 is not an ISO 3166-1 alpha-2 territory code or Worldwide")))),
        ("ern411/1 Audio.xml", Report(21, 0, 21, None)),
        ("ern411/4 SimpleAudioSingle.xml", Report(1, 0, 1, None)),
        ("ern42/1 Audio.xml", Report(21, 0, 21, None)),
        ("ern42/4 SimpleAudioSingle.xml", Report(1, 0, 1, None)),
        ("ern43/1 Audio.xml", Report(21, 0, 21, None)),
        ("ern43/3 MixedMedia.xml", Report(14, 0, 14, None)),
        ("ern43/4 SimpleAudioSingle.xml", Report(1, 0, 1, None)),
        ("ern43/6 Ringtone.xml", Report(1, 0, 1, None)),
        ("ern43/8 DjMix.xml", Report(1, 8, 1, Some(("/NewReleaseMessage/ResourceList/SoundRecording[2]", "the SoundRecording has no ISRC")))),
        ("ern43/Variant Classical.xml", Report(12, 0, 12, None)),
    ];
    // The table covers every file there is.
    let mut files = Vec::new();
    for dir in std::fs::read_dir(SAMPLES).expect("../shared/ddex beside the checkout") {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "xml") {
                files.push(
                    path.strip_prefix(SAMPLES)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    files.sort();
    let mut named: Vec<String> = cases.iter().map(|(f, _)| f.to_string()).collect();
    named.sort();
    assert_eq!(files, named);

    let app = spawn_app(backend).await;
    let owner = app.register("Label Feed Platform", "owner@feed.test").await;
    for (file, expect) in cases {
        let catalog = new_catalog(&app, &owner, file).await;
        let reply = import_xml(&app, &owner.access_token, &catalog, sample(file)).await;
        match expect {
            Report(imported, rejected, held, first) => {
                let body = reply.assert_status(200);
                assert_eq!(body["imported"], imported, "{file}: {body}");
                assert_eq!(body["rejected_rows"], rejected, "{file}: {body}");
                assert_eq!(body["holdings"]["holdings_set"], held, "{file}: {body}");
                if let Some((element, message)) = first {
                    assert_eq!(body["rejected"][0]["element"], element, "{file}");
                    assert_eq!(body["rejected"][0]["message"], message, "{file}");
                }
                assert_eq!(track_count(&app, &owner, &catalog).await, imported as i64);
                assert_eq!(overrides(&app, &owner, &catalog).await.len() as u64, held);
            }
            Refused(field, detail) => {
                let body = reply.assert_problem(422).clone();
                assert_eq!(body["errors"][0]["field"], field, "{file}: {body}");
                assert_eq!(body["errors"][0]["message"], detail, "{file}: {body}");
                // An unusable file changes nothing.
                assert_eq!(track_count(&app, &owner, &catalog).await, 0);
            }
        }
    }
}

fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, content.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

async fn the_43_album_becomes_tracks_and_japanese_holdings_and_batches_are_tars(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Label Feed Platform", "owner@feed.test").await;
    let catalog = new_catalog(&app, &owner, "EMI Japan").await;
    let reply = import_xml(
        &app,
        &owner.access_token,
        &catalog,
        sample("ern43/1 Audio.xml"),
    )
    .await;
    let body = reply.assert_status(200);
    assert_eq!(body["imported"], 21);
    assert_eq!(body["holdings"]["holdings_set"], 21);

    let tracks = app
        .get(
            &format!("/api/v1/catalogs/{catalog}/tracks?limit=50"),
            Some(&owner.access_token),
        )
        .await;
    let items = tracks.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 21);
    assert!(items
        .iter()
        .all(|t| t["isrc"].as_str().unwrap().starts_with("JPTO")));
    assert_eq!(items[0]["title"], "Yume no Lullaby");
    assert_eq!(items[0]["artists"], json!(["Saeko Shu"]));
    assert_eq!(items[0]["label"], "EMI MUSIC JAPAN INC.");
    assert_eq!(items[0]["genre"], "J-Pop");
    assert_eq!(items[0]["duration_ms"], 148_000);

    let held = overrides(&app, &owner, &catalog).await;
    assert_eq!(held.len(), 21);
    for o in &held {
        assert!(o["key"].as_str().unwrap().starts_with("JPTO"));
        assert_eq!(o["territories"], json!(["JP"]));
        assert_eq!(o["usages"], json!(["interactive_streaming", "download"]));
        assert_eq!(o["start_date"], "2004-04-01");
        assert_eq!(o["sublicensable"], true);
        assert_eq!(o["version"], 1);
    }
    // One delivered holding for the album, its 21 ISRCs paged in ISRC order.
    let set_id = held[0]["id"].as_str().unwrap().to_string();
    assert!(held.iter().all(|o| o["id"] == set_id.as_str()));
    let isrcs_url = format!("/api/v1/catalogs/{catalog}/holding/versions/{set_id}/isrcs");
    let first = app
        .get(&format!("{isrcs_url}?limit=20"), Some(&owner.access_token))
        .await;
    let first = first.assert_status(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("{isrcs_url}?limit=20&cursor={cursor}"),
            Some(&owner.access_token),
        )
        .await;
    let rest = rest.assert_status(200);
    assert_eq!(rest["next_cursor"], Value::Null);
    let mut paged: Vec<Value> = first["items"].as_array().unwrap().clone();
    paged.extend(rest["items"].as_array().unwrap().iter().cloned());
    let expected: Vec<Value> = held.iter().map(|o| o["key"].clone()).collect();
    assert_eq!(paged, expected);
    app.get(
        &format!("{isrcs_url}?cursor=bm90LWFuLWlzcmM"),
        Some(&owner.access_token),
    )
    .await
    .assert_problem(400);
    // Another organization reads nothing of it, even by the version's id.
    let stranger = app.register("Other Platform", "owner@other.test").await;
    app.get(&isrcs_url, Some(&stranger.access_token))
        .await
        .assert_problem(404);
    let theirs = new_catalog(&app, &stranger, "theirs").await;
    app.get(
        &format!("/api/v1/catalogs/{theirs}/holding/versions/{set_id}/isrcs"),
        Some(&stranger.access_token),
    )
    .await
    .assert_problem(404);

    // The same message again changes nothing.
    let again = import_xml(
        &app,
        &owner.access_token,
        &catalog,
        sample("ern43/1 Audio.xml"),
    )
    .await;
    let again = again.assert_status(200);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["skipped_existing"], 21);
    assert_eq!(again["holdings"]["holdings_set"], 0);

    // A batch: a tar (and a gzipped one) of messages, a broken one reported by name.
    let batch = tar_of(&[
        ("delivery/album.xml", sample("ern42/1 Audio.xml")),
        (
            "delivery/single.xml",
            sample("ern43/4 SimpleAudioSingle.xml"),
        ),
        ("delivery/broken.xml", sample("dedex/002_erroneous_xml.xml")),
        ("delivery/cover.jpg", b"not a message".to_vec()),
    ]);
    let second = new_catalog(&app, &owner, "batch").await;
    let reply = post_body(
        &app,
        &owner.access_token,
        &second,
        "application/x-tar",
        batch.clone(),
    )
    .await;
    let body = reply.assert_status(200);
    assert_eq!(body["imported"], 22, "{body}");
    assert_eq!(body["rejected_rows"], 1);
    assert_eq!(body["rejected"][0]["document"], "delivery/broken.xml");
    assert_eq!(body["rejected"][0]["field"], "message");
    assert_eq!(body["rejected"][0]["line"], 157);
    assert_eq!(body["holdings"]["holdings_set"], 22);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &batch).unwrap();
    let third = new_catalog(&app, &owner, "gzipped batch").await;
    let reply = post_body(
        &app,
        &owner.access_token,
        &third,
        "application/gzip",
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!(reply.assert_status(200)["imported"], 22);

    // Bytes that are not a tar import nothing (400, like a broken CSV upload).
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let reply = post_body(
        &app,
        &owner.access_token,
        &third,
        "application/x-tar",
        garbage,
    )
    .await;
    reply.assert_problem(400);
    assert_eq!(track_count(&app, &owner, &third).await, 22);

    // A tar without messages is refused.
    let empty = tar_of(&[("readme.txt", b"hello".to_vec())]);
    let reply = post_body(
        &app,
        &owner.access_token,
        &third,
        "application/x-tar",
        empty,
    )
    .await;
    reply.assert_problem(422);
}

async fn hostile_xml_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Label Feed Platform", "owner@feed.test").await;
    let catalog = new_catalog(&app, &owner, "target").await;
    for file in ["billion_laughs.xml", "external_entity.xml"] {
        let reply = import_xml(&app, &owner.access_token, &catalog, fixture(file)).await;
        let body = reply.assert_problem(422);
        let detail = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            detail.contains("a DOCTYPE is not allowed"),
            "{file}: {detail}"
        );
        assert!(
            !reply.text.contains("root:"),
            "{file}: nothing of /etc/passwd"
        );
    }
    // Too deep.
    let mut deep =
        String::from(r#"<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">"#);
    deep.push_str(&"<a>".repeat(100));
    let reply = import_xml(&app, &owner.access_token, &catalog, deep.into_bytes()).await;
    let body = reply.assert_problem(422);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested deeper than 64"));
    assert_eq!(track_count(&app, &owner, &catalog).await, 0);

    // Negotiators import CSV but not ERN: its deals change holdings (signers' business).
    let negotiator = app
        .add_member(&owner, "negotiator@feed.test", "negotiator")
        .await;
    let reply = import_xml(
        &app,
        &negotiator.access_token,
        &catalog,
        fixture("whoa_single.xml"),
    )
    .await;
    reply.assert_problem(403);
}

async fn a_later_message_replaces_the_deals_and_a_purge_ends_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Label Feed Platform", "owner@feed.test").await;
    let catalog = new_catalog(&app, &owner, "Whoa").await;
    let first = import_xml(
        &app,
        &owner.access_token,
        &catalog,
        fixture("whoa_single.xml"),
    )
    .await;
    let first = first.assert_status(200);
    assert_eq!(first["imported"], 2);
    assert_eq!(first["holdings"]["holdings_set"], 2);
    let held = overrides(&app, &owner, &catalog).await;
    let territories = held[0]["territories"].as_array().unwrap();
    // Worldwide but KP, plus CN from the download deal: every code but KP.
    assert!(!territories.contains(&json!("KP")));
    assert!(territories.contains(&json!("CN")) && territories.len() > 200);
    assert_eq!(
        held[0]["usages"],
        json!([
            "interactive_streaming",
            "non_interactive_streaming",
            "download"
        ])
    );
    assert_eq!(held[0]["end_date"], "9999-12-31");

    // A message whose only deal is unusable is reported and changes no holding (a broken
    // DealList is not a takedown).
    let broken = String::from_utf8(fixture("whoa_single_japan_only.xml"))
        .unwrap()
        .replace(
            "<TerritoryCode>JP</TerritoryCode>",
            "<TerritoryCode>Mars</TerritoryCode>",
        );
    let reply = import_xml(&app, &owner.access_token, &catalog, broken.into_bytes()).await;
    let body = reply.assert_status(200);
    assert_eq!(body["rejected_rows"], 1);
    assert_eq!(
        body["rejected"][0]["message"],
        "Mars is not an ISO 3166-1 alpha-2 territory code or Worldwide"
    );
    assert_eq!(body["holdings"]["holdings_set"], 0);
    assert_eq!(body["holdings"]["holdings_ended"], 0);
    let unchanged = overrides(&app, &owner, &catalog).await;
    assert_eq!(unchanged, held);
    assert_eq!(unchanged[0]["version"], 1);

    // A later message for the same release replaces its deals.
    let second = import_xml(
        &app,
        &owner.access_token,
        &catalog,
        fixture("whoa_single_japan_only.xml"),
    )
    .await;
    let second = second.assert_status(200);
    assert_eq!(second["imported"], 0);
    assert_eq!(second["holdings"]["holdings_set"], 2);
    let worldwide = held[0]["set"].clone();
    let held = overrides(&app, &owner, &catalog).await;
    assert_eq!(held.len(), 2);
    for o in &held {
        assert_eq!(o["territories"], json!(["JP"]));
        assert_eq!(o["usages"], json!(["interactive_streaming"]));
        assert_eq!(o["start_date"], "2021-05-01");
        assert_eq!(o["end_date"], "2030-12-31");
        // Both recordings moved to the holding of the new terms.
        assert_ne!(o["set"], worldwide);
        assert_eq!(o["version"], 1);
    }
    let japan = held[0]["set"].clone();

    // DDEX's own purge of this release (ICPN 7665431654967, 2023-01-12) ends them.
    let purge = import_xml(
        &app,
        &owner.access_token,
        &catalog,
        sample("dedex/017_purged_release.xml"),
    )
    .await;
    let purge = purge.assert_status(200);
    assert_eq!(purge["rejected_rows"], 0, "{purge}");
    assert_eq!(purge["holdings"]["holdings_ended"], 2);
    assert_eq!(purge["holdings"]["releases_taken_down"], 1);
    let held = overrides(&app, &owner, &catalog).await;
    assert_eq!(held.len(), 2);
    for o in &held {
        assert_eq!(o["end_date"], "2023-01-11");
        assert_eq!(o["territories"], json!(["JP"]));
        assert_ne!(o["set"], japan);
    }
    let history = app
        .get(
            &format!("/api/v1/catalogs/{catalog}/holding/history?limit=100"),
            Some(&owner.access_token),
        )
        .await;
    // Newest first: the ended holding (v1) and the Japanese one emptied (v2), the
    // Japanese one (v1) and the worldwide one emptied (v2), the worldwide one (v1),
    // then version 1 of the catalog's own holding.
    let history = history.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let seen: Vec<(&str, i64, bool, usize)> = history
        .iter()
        .map(|v| {
            (
                v["scope"].as_str().unwrap(),
                v["version"].as_i64().unwrap(),
                v["removed"].as_bool().unwrap(),
                v["recording_count"].as_u64().unwrap_or(0) as usize,
            )
        })
        .collect();
    let mut newest_first = seen[..4].to_vec();
    newest_first[..2].sort();
    newest_first[2..].sort();
    assert_eq!(
        newest_first,
        [
            ("delivery", 1, false, 2),
            ("delivery", 2, true, 0),
            ("delivery", 1, false, 2),
            ("delivery", 2, true, 0),
        ]
    );
    assert_eq!(
        seen[4..],
        [("delivery", 1, false, 2), ("catalog", 1, false, 0)]
    );
    // Each emptied holding is the one its recordings left.
    let emptied: Vec<&Value> = history
        .iter()
        .filter(|v| v["removed"] == true)
        .map(|v| &v["key"])
        .collect();
    assert_eq!(emptied, [&japan, &worldwide]);
}

/// The licensor of `m` takes the Whoa single's `delivery` (its two recordings and a
/// holding for both) and cuts a slice of them: the slice's id.
async fn whoa_slice(m: &Market, delivery: &str) -> String {
    let reply = import_xml(
        &m.app,
        &m.licensor.access_token,
        &m.catalog_id,
        fixture(delivery),
    )
    .await;
    assert_eq!(reply.assert_status(200)["holdings"]["holdings_set"], 2);
    let slice = m
        .app
        .post(
            &format!("/api/v1/catalogs/{}/slices", m.catalog_id),
            Some(&m.licensor.access_token),
            &json!({"name": "Whoa", "selector": {"labels": ["Whoa Records"]}}),
        )
        .await;
    let slice = slice.assert_status(201);
    assert_eq!(slice["track_count"], 2);
    slice["id"].as_str().unwrap().to_string()
}

async fn a_takedown_reaches_the_grants_and_grants_download_as_ddex_and_odrl(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let slice_id = &whoa_slice(&m, "whoa_single.xml").await;
    let mut sublicensable = terms(slice_id);
    sublicensable["sublicensable"] = json!(true);
    let agreed = m.agreed(&sublicensable).await;
    let executed = m.executed(agreed).await;
    assert_eq!(executed["state"], "executed", "{executed}");
    let grant = executed["grant_id"].as_str().unwrap().to_string();

    // The grant as a DDEX-style deal: every recording, the terms.
    let ddex = app
        .get(
            &format!("/api/v1/grants/{grant}/ddex"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(ddex.status.as_u16(), 200, "{}", ddex.text);
    assert!(ddex.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    for needle in [
        "<ISRC>QZWHO2000001</ISRC>",
        "<ISRC>QZWHO2000002</ISRC>",
        "<TerritoryCode>CN</TerritoryCode>",
        "<StartDate>2027-01-01</StartDate>",
        "<EndDate>2029-12-31</EndDate>",
        "<UseType>OnDemandStream</UseType>",
        "<UseType>NonInteractiveStream</UseType>",
        "<IsSublicensable>true</IsSublicensable>",
        r#"<Price PriceType="upfront_fee" CurrencyCode="CNY">1000000.00</Price>"#,
    ] {
        assert!(ddex.text.contains(needle), "{needle} in {}", ddex.text);
    }
    // The ODRL Agreement.
    let odrl = app
        .get(
            &format!("/api/v1/grants/{grant}/odrl"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(odrl.status.as_u16(), 200, "{}", odrl.text);
    assert_eq!(odrl.headers["content-type"], "application/ld+json");
    let agreement: Value = serde_json::from_str(&odrl.text).unwrap();
    assert_eq!(agreement["@type"], "Agreement");
    assert_eq!(agreement["uid"], format!("urn:cadenza:grant:{grant}"));
    assert_eq!(
        agreement["target"]["dct:hasPart"],
        json!(["urn:isrc:QZWHO2000001", "urn:isrc:QZWHO2000002"])
    );
    let permissions = agreement["permission"].as_array().unwrap();
    assert_eq!(permissions.len(), 3, "two usages and the onward grant");
    assert_eq!(
        permissions[0]["constraint"][0],
        json!({"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": ["CN"]})
    );
    assert_eq!(permissions[2]["duty"][0]["action"], "nextPolicy");
    let fees: Vec<&str> = agreement["obligation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["action"][0]["refinement"][0]["rightOperand"]["@value"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(fees, vec!["1000000.00", "5000000.00", "0.0045"]);
    // Nobody else sees them.
    let stranger = app.register("Kugou", "owner@kugou.test").await;
    for kind in ["ddex", "odrl"] {
        app.get(
            &format!("/api/v1/grants/{grant}/{kind}"),
            Some(&stranger.access_token),
        )
        .await
        .assert_problem(404);
    }

    // A deal-less update of the release (2028-06-01) is a takedown: the holding of
    // both recordings ends, and the grant built on them loses its backing from then.
    let takedown = import_xml(
        app,
        &m.licensor.access_token,
        &m.catalog_id,
        fixture("whoa_single_takedown.xml"),
    )
    .await;
    let takedown = takedown.assert_status(200);
    assert_eq!(takedown["holdings"]["holdings_ended"], 2, "{takedown}");
    assert_eq!(takedown["holdings"]["releases_taken_down"], 1);
    assert_eq!(takedown["holdings"]["grants_marked"], 1);
    let backing = app
        .get(
            &format!("/api/v1/grants/{grant}/backing"),
            Some(&m.licensee.access_token),
        )
        .await;
    let backing = backing.assert_status(200);
    assert_eq!(backing["status"], "lost");
    assert_eq!(backing["losses"][0]["cause"], "holding_cut");
    assert_eq!(backing["losses"][0]["lost_from"], "2028-06-01");
    assert_eq!(backing["losses"][0]["track_count"], 2);
    assert!(!app
        .outbox_contexts("owner@netease.test", "grant_backing_lost")
        .is_empty());
}

async fn a_recording_override_by_hand_takes_the_place_of_its_delivered_holding(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    // The deals give both recordings JP streaming only, 2021-05-01 to 2030-12-31.
    let slice_id = whoa_slice(&m, "whoa_single_japan_only.xml").await;
    let isrcs: Vec<String> = overrides(app, &m.licensor, &m.catalog_id)
        .await
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(isrcs.len(), 2);
    // CN streaming is not what the deals delivered: the executing signature is refused.
    let agreed = m.agreed(&terms(&slice_id)).await;
    let signed = m
        .sign(&m.licensee_signer, &agreed)
        .await
        .assert_status(200)
        .clone();
    let refused = m.sign(&m.licensor_signer, &signed).await;
    let problem = refused.assert_problem(409);
    let gaps = problem["conflict_report"]["holding_gaps"]
        .as_array()
        .unwrap();
    assert!(
        gaps.iter().any(|g| g["dimension"] == "territories"),
        "{problem}"
    );

    // The licensor types what it really holds for each recording: that replaces the
    // delivered holding, so the same signature now executes.
    for isrc in &isrcs {
        app.post(
            &format!("/api/v1/catalogs/{}/holding/overrides", m.catalog_id),
            Some(&m.licensor.access_token),
            &json!({"isrc": isrc, "territories": ["CN"],
                    "usages": ["interactive_streaming", "non_interactive_streaming"],
                    "start_date": "2020-01-01", "end_date": "2040-12-31", "sublicensable": true}),
        )
        .await
        .assert_status(201);
    }
    let executed = m.sign(&m.licensor_signer, &signed).await;
    assert_eq!(executed.assert_status(200)["state"], "executed");

    // A later delivery for those recordings replaces what was typed by hand.
    let reply = import_xml(
        app,
        &m.licensor.access_token,
        &m.catalog_id,
        fixture("whoa_single.xml"),
    )
    .await;
    assert_eq!(reply.assert_status(200)["holdings"]["holdings_set"], 2);
    let holding = app
        .get(
            &format!("/api/v1/catalogs/{}/holding", m.catalog_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let current = holding.assert_status(200)["overrides"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        current.iter().all(|o| o["scope"] == "delivery"),
        "{current:?}"
    );
    let history = app
        .get(
            &format!(
                "/api/v1/catalogs/{}/holding/history?limit=100",
                m.catalog_id
            ),
            Some(&m.licensor.access_token),
        )
        .await;
    let removed: Vec<&str> = history.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["scope"] == "recording" && v["removed"] == true)
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    let mut removed = removed;
    removed.sort_unstable();
    assert_eq!(removed, isrcs);
}
