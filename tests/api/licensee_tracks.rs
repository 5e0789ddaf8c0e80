//! What a licensee sees before signing (issue #14): every track of an offer it can see
//! and of a deal it is party to, as pages and as CSV, on both backends.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::deals::{market, terms, upload, Market};
use crate::helpers::{Backend, Reply, Session, TestApp};
use crate::on_both_backends;

const CSV_HEADER: [&str; 7] = [
    "isrc",
    "title",
    "artists",
    "label",
    "genre",
    "release_date",
    "duration_ms",
];

/// Cuts a slice of `selector` from the licensor's catalog: (id, track_count).
async fn cut(m: &Market, catalog_id: &str, name: &str, selector: Value) -> (String, i64) {
    let reply = m
        .app
        .post(
            &format!("/api/v1/catalogs/{catalog_id}/slices"),
            Some(&m.licensor.access_token),
            &json!({"name": name, "selector": selector}),
        )
        .await;
    let body = reply.assert_status(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["track_count"].as_i64().unwrap(),
    )
}

/// Publishes an offer of `slice_id` to `visibility` (`"public"` or a list of ids).
async fn offer(m: &Market, slice_id: &str, visibility: Value, publish: bool) -> Value {
    let expires = (Utc::now() + Duration::days(10)).to_rfc3339();
    m.app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": "CN streaming", "slice_id": slice_id, "terms": terms(slice_id),
                    "visibility": visibility, "expires_at": expires, "publish": publish}),
        )
        .await
        .assert_status(201)
        .clone()
}

/// Follows `next_cursor` from the first page to the last: every item, in order.
/// Every page but the last is full; the last one says so with a null cursor.
async fn every_page(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let body = app.get(&url, Some(token)).await.assert_status(200).clone();
        let page = body["items"].as_array().expect("items");
        items.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "a page before the last is full: {url}");
                cursor = Some(next.to_string());
            }
            None => {
                assert!(page.len() <= limit, "{url}");
                return items;
            }
        }
    }
    panic!("{path} never reached its last page");
}

fn isrcs(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["isrc"].as_str().expect("isrc").to_string())
        .collect()
}

/// Asserts `items` has `count` distinct tracks and returns their ISRCs as a set.
#[track_caller]
fn distinct(items: &[Value], count: i64) -> BTreeSet<String> {
    let list = isrcs(items);
    let set: BTreeSet<String> = list.iter().cloned().collect();
    assert_eq!(set.len(), list.len(), "no track is listed twice");
    assert_eq!(list.len() as i64, count, "every track is listed");
    set
}

/// The rows of a CSV download (header first), each cell as the file holds it.
#[track_caller]
fn csv_rows(reply: &Reply, filename: &str) -> Vec<Vec<String>> {
    reply.assert_status(200);
    assert!(
        reply.content_type().starts_with("text/csv"),
        "{}",
        reply.content_type()
    );
    assert_eq!(
        reply
            .headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok()),
        Some(format!("attachment; filename=\"{filename}\"").as_str())
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(reply.text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("a CSV record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// The track a CSV row stands for, as the JSON list shows it (cells recovered from
/// their spreadsheet-safe form).
fn row_as_track(row: &[String]) -> Value {
    let cell = |i: usize| cadenza::api::csv_export::recover(&row[i]).to_string();
    json!({
        "isrc": cell(0),
        "title": cell(1),
        "artists": cell(2).split(';').collect::<Vec<_>>(),
        "label": cell(3),
        "genre": cell(4),
        "release_date": cell(5),
        "duration_ms": cell(6).parse::<i64>().expect("duration_ms"),
    })
}

/// The JSON track without the fields the CSV does not carry.
fn without_iswc(track: &Value) -> Value {
    let mut t = track.clone();
    if let Some(map) = t.as_object_mut() {
        map.remove("iswc");
    }
    t
}

async fn register(app: &TestApp, name: &str) -> Session {
    let email = format!("owner@{}.test", name.to_lowercase());
    app.register(name, &email).await
}

/// A licensee that does not own the slice lists every track of a public offer, page by
/// page, and gets exactly the owner's list of the slice; the slice itself stays private.
async fn a_licensee_pages_through_every_track_of_a_public_offer(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let offer = offer(&m, &m.slice_id, json!("public"), true).await;
    let offer_id = offer["id"].as_str().unwrap();
    assert_eq!(offer["track_count"], json!(m.slice_tracks));
    assert!(m.slice_tracks > 250, "several pages: {}", m.slice_tracks);

    let path = format!("/api/v1/offers/{offer_id}/tracks");
    let seen = every_page(app, &path, &m.licensee.access_token, 97).await;
    let seen_isrcs = distinct(&seen, m.slice_tracks);
    let owned = every_page(
        app,
        &format!("/api/v1/slices/{}/tracks", m.slice_id),
        &m.licensor.access_token,
        500,
    )
    .await;
    assert_eq!(
        seen, owned,
        "the same tracks, in the same order and shape, as the owner's slice list"
    );
    assert_eq!(seen_isrcs, distinct(&owned, m.slice_tracks));
    assert_eq!(
        every_page(app, &path, &m.licensor.access_token, 500).await,
        owned,
        "the licensor reads its own offer's list too"
    );
    // Any signed-in organization may read a public offer's tracks.
    let stranger = register(app, "Deezer").await;
    assert_eq!(
        every_page(app, &path, &stranger.access_token, 500).await,
        owned
    );

    // The page-size rules of `GET /slices/{id}/tracks`.
    let first = app.get(&path, Some(&m.licensee.access_token)).await;
    let first = first.assert_status(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 50, "default 50");
    assert_eq!(first["items"][0], owned[0]);
    for bad in ["limit=0", "limit=1001", "cursor=!!!", "cursor=eA"] {
        let reply = app
            .get(&format!("{path}?{bad}"), Some(&m.licensee.access_token))
            .await;
        reply.assert_problem(400);
    }
    app.get(&path, None).await.assert_problem(401);

    // The slice stays its owner's: its id is on the offer, its own routes answer 404.
    for private in [
        format!("/api/v1/slices/{}", m.slice_id),
        format!("/api/v1/slices/{}/tracks", m.slice_id),
        format!(
            "/api/v1/slices/{}/tracks/{}",
            m.slice_id,
            seen_isrcs.first().unwrap()
        ),
    ] {
        app.get(&private, Some(&m.licensee.access_token))
            .await
            .assert_problem(404);
        app.get(&private, Some(&m.licensor.access_token))
            .await
            .assert_status(200);
    }
}

/// `GET /offers/{id}/tracks.csv`: a header and one row per track, the same tracks as
/// the pages, over several streamed chunks, spreadsheet-safe.
async fn the_offer_csv_has_a_row_per_track(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;

    // A small slice: one chunk.
    let small = offer(&m, &m.slice_id, json!("public"), true).await;
    let small_id = small["id"].as_str().unwrap();
    let rows = csv_rows(
        &app.get(
            &format!("/api/v1/offers/{small_id}/tracks.csv"),
            Some(&m.licensee.access_token),
        )
        .await,
        &format!("offer-{small_id}.csv"),
    );
    assert_eq!(rows[0], CSV_HEADER, "the header names the columns");
    assert_eq!(
        rows.len() as i64,
        m.slice_tracks + 1,
        "header plus one row per track"
    );
    let pages = every_page(
        app,
        &format!("/api/v1/offers/{small_id}/tracks"),
        &m.licensee.access_token,
        500,
    )
    .await;
    let from_csv: Vec<Value> = rows[1..].iter().map(|r| row_as_track(r)).collect();
    let from_pages: Vec<Value> = pages.iter().map(without_iswc).collect();
    assert_eq!(
        from_csv, from_pages,
        "every row is the track the pages show"
    );

    // A 12,003-track catalog, offered whole: 5,000-track chunks, the last one partial,
    // and titles a spreadsheet would evaluate.
    let catalog = app
        .post(
            "/api/v1/catalogs",
            Some(&m.licensor.access_token),
            &json!({"name": "Deep catalog", "territories": ["CN"], "usages": ["interactive_streaming", "non_interactive_streaming"],
                    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
        )
        .await;
    let catalog_id = catalog.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    upload(app, &m.licensor.access_token, &catalog_id, 12_000).await;
    let formulas = "isrc,title,artists,label,genre,release_date,duration_ms\n\
        QZFRM2600001,\"=HYPERLINK(\"\"http://evil.test\"\",\"\"click\"\")\",Someone,Formula Label,Pop,2021-03-04,200000\n\
        QZFRM2600002,@SUM(A1:A9),+Plus;-M-,Formula Label,Pop,2021-03-04,180000\n\
        QZFRM2600003,'quoted,Someone,Formula Label,Pop,2021-03-04,170000\n";
    let imported = TestApp::reply(
        app.client
            .post(app.url(&format!("/api/v1/catalogs/{catalog_id}/imports")))
            .bearer_auth(&m.licensor.access_token)
            .header("content-type", "text/csv")
            .body(formulas)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(imported.assert_status(200)["imported"], 3);
    let (whole, whole_count) = cut(&m, &catalog_id, "everything", json!({})).await;
    assert_eq!(whole_count, 12_003);
    let big = offer(&m, &whole, json!("public"), true).await;
    let big_id = big["id"].as_str().unwrap();
    let rows = csv_rows(
        &app.get(
            &format!("/api/v1/offers/{big_id}/tracks.csv"),
            Some(&m.licensee.access_token),
        )
        .await,
        &format!("offer-{big_id}.csv"),
    );
    assert_eq!(rows[0], CSV_HEADER);
    assert_eq!(rows.len(), 12_003 + 1);
    let csv_isrcs: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    let csv_set: BTreeSet<String> = csv_isrcs.iter().cloned().collect();
    assert_eq!(csv_set.len(), 12_003, "no track twice across chunks");
    let pages = every_page(
        app,
        &format!("/api/v1/offers/{big_id}/tracks"),
        &m.licensee.access_token,
        500,
    )
    .await;
    assert_eq!(
        csv_isrcs,
        isrcs(&pages),
        "the same tracks in the same order"
    );
    for row in &rows[1..] {
        assert_eq!(row.len(), 7, "{row:?}");
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a spreadsheet would evaluate {cell:?}"
            );
        }
    }
    let by_isrc = |isrc: &str| rows.iter().find(|r| r[0] == isrc).unwrap().clone();
    assert_eq!(
        by_isrc("QZFRM2600001")[1],
        "'=HYPERLINK(\"http://evil.test\",\"click\")"
    );
    assert_eq!(by_isrc("QZFRM2600002")[1], "'@SUM(A1:A9)");
    assert_eq!(by_isrc("QZFRM2600002")[2], "'+Plus;-M-");
    assert_eq!(by_isrc("QZFRM2600003")[1], "''quoted");
    assert_eq!(by_isrc("QZFRM2600003")[4], "Pop");
    assert_eq!(by_isrc("QZFRM2600003")[5], "2021-03-04");
    assert_eq!(by_isrc("QZFRM2600003")[6], "170000");

    // Exactly one full chunk: a slice of 5,000 tracks ends cleanly.
    let (first_catalog, count) = cut(&m, &m.catalog_id, "the first catalog", json!({})).await;
    assert_eq!(count, 5_000);
    let exact = offer(&m, &first_catalog, json!("public"), true).await;
    let exact_id = exact["id"].as_str().unwrap();
    let rows = csv_rows(
        &app.get(
            &format!("/api/v1/offers/{exact_id}/tracks.csv"),
            Some(&m.licensee.access_token),
        )
        .await,
        &format!("offer-{exact_id}.csv"),
    );
    assert_eq!(rows.len(), 5_000 + 1);
}

/// Whoever cannot see an offer cannot list its tracks: 404, word for word the answer of
/// `GET /offers/{id}`. Whoever can, can.
async fn offer_tracks_follow_the_offer_audience(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let outsider = register(app, "Spotify").await;
    let for_licensee = offer(&m, &m.slice_id, json!([m.licensee.organization_id]), true).await;
    let for_outsider = offer(&m, &m.slice_id, json!([outsider.organization_id]), true).await;
    let draft = offer(&m, &m.slice_id, json!("public"), false).await;
    let withdrawn = offer(&m, &m.slice_id, json!("public"), true).await;
    let withdrawn_id = withdrawn["id"].as_str().unwrap();
    m.app
        .post(
            &format!("/api/v1/offers/{withdrawn_id}/withdraw"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await
        .assert_status(200);

    let check = |offer: &Value, who: &Session, visible: bool| {
        let id = offer["id"].as_str().unwrap().to_string();
        let token = who.access_token.clone();
        async move {
            let shown = app.get(&format!("/api/v1/offers/{id}"), Some(&token)).await;
            let tracks = app
                .get(&format!("/api/v1/offers/{id}/tracks"), Some(&token))
                .await;
            let csv = app
                .get(&format!("/api/v1/offers/{id}/tracks.csv"), Some(&token))
                .await;
            if visible {
                shown.assert_status(200);
                assert!(!tracks.assert_status(200)["items"]
                    .as_array()
                    .unwrap()
                    .is_empty());
                csv.assert_status(200);
            } else {
                let expected = shown.assert_problem(404).clone();
                assert_eq!(
                    tracks.assert_problem(404),
                    &expected,
                    "as GET /offers/{{id}}"
                );
                assert_eq!(csv.assert_problem(404), &expected, "as GET /offers/{{id}}");
            }
        }
    };
    check(&for_licensee, &m.licensee, true).await;
    check(&for_licensee, &outsider, false).await;
    check(&for_licensee, &m.licensor, true).await;
    check(&for_outsider, &outsider, true).await;
    check(&for_outsider, &m.licensee, false).await;
    check(&draft, &m.licensee, false).await;
    check(&draft, &m.licensor, true).await;
    check(&withdrawn, &m.licensee, false).await;
    check(&withdrawn, &m.licensor, true).await;
    let missing = json!({"id": "0195b2d0-0000-7000-8000-000000000000"});
    check(&missing, &m.licensee, false).await;
}

/// A deal's tracks are the slice of its current terms, for either party; nobody else.
async fn deal_tracks_for_both_parties_only(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let outsider = register(app, "Spotify").await;
    let deal = m.open(&terms(&m.slice_id)).await;
    let id = deal["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/deals/{id}/tracks");
    let csv_path = format!("/api/v1/deals/{id}/tracks.csv");
    let owned = every_page(
        app,
        &format!("/api/v1/slices/{}/tracks", m.slice_id),
        &m.licensor.access_token,
        500,
    )
    .await;

    // A draft is its opener's alone, as `GET /deals/{id}` has it.
    assert_eq!(
        every_page(app, &path, &m.licensee.access_token, 200).await,
        owned
    );
    for (who, p) in [
        (&m.licensor, &path),
        (&outsider, &path),
        (&m.licensor, &csv_path),
    ] {
        let expected = app
            .get(&format!("/api/v1/deals/{id}"), Some(&who.access_token))
            .await
            .assert_problem(404)
            .clone();
        assert_eq!(
            app.get(p, Some(&who.access_token))
                .await
                .assert_problem(404),
            &expected
        );
    }

    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    for party in [&m.licensee, &m.licensor] {
        let items = every_page(app, &path, &party.access_token, 111).await;
        distinct(&items, m.slice_tracks);
        assert_eq!(items, owned);
        let rows = csv_rows(
            &app.get(&csv_path, Some(&party.access_token)).await,
            &format!("deal-{id}.csv"),
        );
        assert_eq!(rows[0], CSV_HEADER);
        assert_eq!(
            rows[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
            isrcs(&owned)
        );
    }
    for p in [&path, &csv_path] {
        app.get(p, Some(&outsider.access_token))
            .await
            .assert_problem(404);
    }

    // A counter on another slice: the list follows the current terms.
    let (other, other_count) = cut(
        &m,
        &m.catalog_id,
        "label 3",
        json!({"labels": ["Label 0003"]}),
    )
    .await;
    let deal = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": terms(&other)}),
        )
        .await
        .assert_status(200)
        .clone();
    let other_owned = every_page(
        app,
        &format!("/api/v1/slices/{other}/tracks"),
        &m.licensor.access_token,
        500,
    )
    .await;
    let countered = every_page(app, &path, &m.licensee.access_token, 500).await;
    distinct(&countered, other_count);
    assert_eq!(countered, other_owned);

    // Back to the first slice, agreed and signed: the list is what was granted.
    let deal = m
        .act(
            &m.licensee.access_token,
            &deal,
            "counter",
            json!({"terms": terms(&m.slice_id)}),
        )
        .await
        .assert_status(200)
        .clone();
    let agreed = m
        .act(&m.licensor.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let hash_before = app
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)["content_hash"]
        .clone();
    let executed = m.executed(agreed).await;
    let grant_id = executed["grant_id"].as_str().unwrap();
    let slice = app
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let slice = slice.assert_status(200);
    assert_eq!(
        slice["content_hash"], hash_before,
        "signing never changes a slice"
    );
    assert!(slice["frozen_at"].is_string());
    let granted = every_page(
        app,
        &format!("/api/v1/grants/{grant_id}/tracks"),
        &m.licensee.access_token,
        500,
    )
    .await;
    for party in [&m.licensee, &m.licensor] {
        assert_eq!(
            every_page(app, &path, &party.access_token, 500).await,
            granted
        );
    }
    assert_eq!(
        granted, owned,
        "the list read before signing is the list granted"
    );
    for p in [&path, &csv_path] {
        app.get(p, Some(&outsider.access_token))
            .await
            .assert_problem(404);
    }
}

on_both_backends!(
    a_licensee_pages_through_every_track_of_a_public_offer,
    the_offer_csv_has_a_row_per_track,
    offer_tracks_follow_the_offer_audience,
    deal_tracks_for_both_parties_only,
);
