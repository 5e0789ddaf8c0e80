//! Catalogs, imports, tracks and slices on both backends.

use cadenza::import::{generate::generate_catalog, ImportFormat};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_second_node, Backend, Reply, Session, TestApp};
use crate::on_both_backends;

const HEADER: &str = "isrc,title,artists,label,genre,release_date,duration_ms";

async fn create_catalog(app: &TestApp, owner: &Session) -> String {
    let reply = app
        .post(
            "/api/v1/catalogs",
            Some(&owner.access_token),
            &json!({"name": "Main catalog", "territories": ["CN", "HK", "TW"], "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2020-01-01", "holding_end": "2035-12-31", "sublicensable": true}),
        )
        .await;
    reply.assert_status(201)["id"].as_str().unwrap().to_string()
}

async fn upload(
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

fn generated(tracks: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    generate_catalog(&mut out, tracks, seed, ImportFormat::Csv).unwrap();
    out
}

async fn catalogs_are_validated_and_private(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let bad = app
        .post(
            "/api/v1/catalogs",
            Some(&owner.access_token),
            &json!({"name": "", "territories": ["CN", "XX"], "usages": ["streaming"], "holding_start": "2030-01-01", "holding_end": "2020-01-01", "sublicensable": true}),
        )
        .await;
    bad.assert_problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["holding_end", "name", "territories[1]", "usages[0]"]
    );

    let id = create_catalog(&app, &owner).await;
    let got = app
        .get(&format!("/api/v1/catalogs/{id}"), Some(&owner.access_token))
        .await;
    let got = got.assert_status(200);
    assert_eq!(got["territories"], json!(["CN", "HK", "TW"]));
    assert_eq!(got["track_count"], 0);
    let list = app.get("/api/v1/catalogs", Some(&owner.access_token)).await;
    assert_eq!(
        list.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );

    let viewer = app.add_member(&owner, "viewer@tme.test", "viewer").await;
    app.get(
        &format!("/api/v1/catalogs/{id}"),
        Some(&viewer.access_token),
    )
    .await
    .assert_status(200);
    app.post("/api/v1/catalogs", Some(&viewer.access_token), &json!({"name": "x", "territories": ["CN"], "usages": ["download"], "holding_start": "2020-01-01", "holding_end": "2021-01-01", "sublicensable": false}))
        .await
        .assert_problem(403);
    let csv = format!("{HEADER}\nCNA012400001,Song,A,L,Pop,2020-01-01,1000\n").into_bytes();
    upload(&app, &viewer.access_token, &id, "text/csv", csv.clone())
        .await
        .assert_problem(403);

    // Another organization sees nothing and changes nothing.
    let other = app.register("NetEase", "owner@netease.test").await;
    app.get(&format!("/api/v1/catalogs/{id}"), Some(&other.access_token))
        .await
        .assert_problem(404);
    app.get(
        &format!("/api/v1/catalogs/{id}/tracks"),
        Some(&other.access_token),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/catalogs/{id}/slices"),
        Some(&other.access_token),
    )
    .await
    .assert_problem(404);
    upload(&app, &other.access_token, &id, "text/csv", csv)
        .await
        .assert_problem(404);
    app.post(
        &format!("/api/v1/catalogs/{id}/slices"),
        Some(&other.access_token),
        &json!({"name": "s", "selector": {}}),
    )
    .await
    .assert_problem(404);
    let other_list = app.get("/api/v1/catalogs", Some(&other.access_token)).await;
    assert_eq!(
        other_list.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let mine = app
        .get(&format!("/api/v1/catalogs/{id}"), Some(&owner.access_token))
        .await;
    assert_eq!(
        mine.assert_status(200)["track_count"],
        0,
        "the refused upload wrote nothing"
    );
}

async fn imports_take_good_rows_and_report_bad_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&app, &owner).await;
    let mut csv = format!(
        "{HEADER},iswc\n\
         CN-A01-24-00001,Blue Moon,Ana;Bo,Star Records,Pop,2024-03-01,200000,T-034.524.680-1\n\
         CNA012400002,\"Rain, Again\",Ana,Star Records,Rock,2023-05-01,180000,\n\
         BADISRC,Nope,Ana,Star Records,Pop,2024-03-01,200000,\n\
         CNA012400003,No Date,Ana,Star Records,Pop,2024-13-01,200000,\n\
         CNA012400004,No Artist,,Star Records,Pop,2024-03-01,200000,\n\
         CNA012400001,Duplicate,Ana,Star Records,Pop,2024-03-01,200000,\n\
         CNA012400005,Bad Bytes,"
    )
    .into_bytes();
    csv.extend_from_slice(&[0xff, 0xfe]);
    csv.extend_from_slice(b",Star Records,Pop,2024-03-01,200000,\nCNA012400006,Truncated,Ana");
    let report = upload(&app, &owner.access_token, &id, "text/csv", csv.clone()).await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["rejected_rows"], 6, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (4, "isrc".to_string()),
            (5, "release_date".to_string()),
            (6, "artists".to_string()),
            (7, "isrc".to_string()),
            (8, "artists".to_string()),
            (9, "row".to_string())
        ],
        "{report}"
    );
    assert_eq!(report["catalog_track_count"], 2);

    // Re-running the same file changes nothing.
    let again = upload(&app, &owner.access_token, &id, "text/csv", csv).await;
    let again = again.assert_status(200);
    assert_eq!(again["imported"], 0);
    // Lines 2 and 3, and line 7 whose ISRC (a duplicate of line 2) the catalog now holds.
    assert_eq!(again["skipped_existing"], 3);
    assert_eq!(again["catalog_track_count"], 2);

    // The stored tracks read back as imported, with the ISRC normalized.
    let track = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?isrc=CN-A01-24-00001"),
            Some(&owner.access_token),
        )
        .await;
    let item = track.assert_status(200)["items"][0].clone();
    assert_eq!(item["isrc"], "CNA012400001");
    assert_eq!(item["artists"], json!(["Ana", "Bo"]));
    assert_eq!(item["iswc"], "T0345246801");
    assert_eq!(item["release_date"], "2024-03-01");

    // NDJSON, with artists as an array or a string.
    let ndjson = concat!(
        r#"{"isrc":"CNA012400010","title":"N1","artists":["Cy"],"label":"Moon Music","genre":"Jazz","release_date":"2001-01-01","duration_ms":1000}"#,
        "\n",
        r#"{"isrc":"CNA012400011","title":"N2","artists":"Cy;Di","label":"Moon Music","genre":"Jazz","release_date":"2001-01-02","duration_ms":"2000"}"#,
        "\n",
        r#"{"isrc":"CNA012400012","title":"#,
        "\n"
    );
    let report = upload(
        &app,
        &owner.access_token,
        &id,
        "application/x-ndjson",
        ndjson.as_bytes().to_vec(),
    )
    .await;
    let report = report.assert_status(200);
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["rejected"][0]["line"], 3);
}

async fn unusable_files_import_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&app, &owner).await;
    let wrong_header = upload(
        &app,
        &owner.access_token,
        &id,
        "text/csv",
        b"isrc,name\nCNA012400001,x\n".to_vec(),
    )
    .await;
    wrong_header.assert_problem(422);
    assert_eq!(wrong_header.error_fields(), vec!["header"]);
    upload(&app, &owner.access_token, &id, "text/csv", Vec::new())
        .await
        .assert_problem(422);
    upload(
        &app,
        &owner.access_token,
        &id,
        "application/json",
        b"{}".to_vec(),
    )
    .await
    .assert_problem(415);
    let catalog = app
        .get(&format!("/api/v1/catalogs/{id}"), Some(&owner.access_token))
        .await;
    assert_eq!(catalog.assert_status(200)["track_count"], 0);

    // 10,000 bad rows: nothing imported, every one counted, the first 1,000 reported by
    // line (the report is capped so it stays bounded; docs/api.md, "Catalogs and imports").
    let mut csv = format!("{HEADER}\n");
    for i in 0..10_000 {
        csv.push_str(&format!("CNA01240{i:04},T,A,L,Pop,not-a-date,1000\n"));
    }
    let report = upload(&app, &owner.access_token, &id, "text/csv", csv.into_bytes()).await;
    let report = report.assert_status(200);
    assert_eq!(report["imported"], 0);
    assert_eq!(report["rejected_rows"], 10_000);
    let lines: Vec<u64> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, (2..=1_001).collect::<Vec<_>>());
    assert_eq!(report["rejected_truncated"], true);
    assert!(report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["field"] == "release_date"));
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_large_import_is_sliced_listed_and_queried(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&app, &owner).await;
    let report = upload(
        &app,
        &owner.access_token,
        &id,
        "text/csv",
        generated(100_000, 42),
    )
    .await;
    let report = report.assert_status(200);
    assert_eq!(report["imported"], 100_000);
    assert_eq!(report["rejected_rows"], 0);

    // Filters use the attribute index.
    let by_label = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?label=label%200001&limit=5"),
            Some(&owner.access_token),
        )
        .await;
    let by_label = items(&by_label);
    assert_eq!(by_label.len(), 5);
    assert!(
        by_label.iter().all(|t| t["label"] == "Label 0001"),
        "case-insensitive label match"
    );
    let by_two = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?label=Label%200001&genre=pop&limit=50"),
            Some(&owner.access_token),
        )
        .await;
    assert!(items(&by_two)
        .iter()
        .all(|t| t["label"] == "Label 0001" && t["genre"] == "Pop"));
    let by_title = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?q=midnight%20river&limit=3"),
            Some(&owner.access_token),
        )
        .await;
    assert!(items(&by_title).iter().all(|t| t["title"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("midnight river")));
    let nothing = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?label=No%20Such%20Label"),
            Some(&owner.access_token),
        )
        .await;
    assert!(items(&nothing).is_empty());

    // A slice: three labels, released 2010 or later, minus one track, plus one.
    let first = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?label=Label%200002&limit=1"),
            Some(&owner.access_token),
        )
        .await;
    let excluded = items(&first)[0]["isrc"].as_str().unwrap().to_string();
    let outsider = app
        .get(
            &format!("/api/v1/catalogs/{id}/tracks?label=Label%200500&limit=1"),
            Some(&owner.access_token),
        )
        .await;
    let included = items(&outsider)[0]["isrc"].as_str().unwrap().to_string();
    let created = app
        .post(
            &format!("/api/v1/catalogs/{id}/slices"),
            Some(&owner.access_token),
            &json!({"name": "Top labels since 2010", "selector": {
                "labels": ["Label 0001", "Label 0002", "Label 0003", "Label 9999"],
                "released_from": "2010-01-01",
                "include_isrcs": [included],
                "exclude_isrcs": [excluded]
            }}),
        )
        .await;
    let created = created.assert_status(201).clone();
    let count = created["track_count"].as_i64().unwrap();
    assert!(count > 1_000 && count < 60_000, "{count}");
    assert_eq!(created["catalog_track_count"], 100_000);
    assert!(created["summary"]
        .as_str()
        .unwrap()
        .ends_with("of 100,000 tracks"));
    assert_eq!(
        created["unknown_values"],
        json!([{"field": "labels", "value": "Label 9999"}])
    );
    assert_eq!(created["content_hash"].as_str().unwrap().len(), 64);
    let slice = created["id"].as_str().unwrap();

    // Membership by ISRC.
    app.get(
        &format!("/api/v1/slices/{slice}/tracks/{included}"),
        Some(&owner.access_token),
    )
    .await
    .assert_status(200);
    app.get(
        &format!("/api/v1/slices/{slice}/tracks/{excluded}"),
        Some(&owner.access_token),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/slices/{slice}/tracks/NOT-AN-ISRC"),
        Some(&owner.access_token),
    )
    .await
    .assert_problem(422);

    // Walking every page visits every track once, in order.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/slices/{slice}/tracks?limit=500&cursor={c}"),
            None => format!("/api/v1/slices/{slice}/tracks?limit=500"),
        };
        let page = app.get(&path, Some(&owner.access_token)).await;
        let body = page.assert_status(200).clone();
        let tracks = body["items"].as_array().unwrap();
        for t in tracks {
            let label = t["label"].as_str().unwrap();
            let isrc = t["isrc"].as_str().unwrap();
            assert!(
                isrc == included
                    || (["Label 0001", "Label 0002", "Label 0003"].contains(&label)
                        && t["release_date"].as_str().unwrap() >= "2010-01-01"),
                "{t}"
            );
            assert_ne!(isrc, excluded);
        }
        seen += tracks.len() as i64;
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, count);
    assert!(pages > 1);

    let got = app
        .get(
            &format!("/api/v1/slices/{slice}"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(got.assert_status(200)["track_count"], count);
    let listed = app
        .get(
            &format!("/api/v1/catalogs/{id}/slices"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(items(&listed).len(), 1);

    // Another organization cannot read the slice or its tracks.
    let other = app.register("NetEase", "owner@netease.test").await;
    app.get(
        &format!("/api/v1/slices/{slice}"),
        Some(&other.access_token),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/slices/{slice}/tracks"),
        Some(&other.access_token),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/slices/{slice}/tracks/{included}"),
        Some(&other.access_token),
    )
    .await
    .assert_problem(404);

    // A bad selector names its fields.
    let bad = app
        .request(
            Method::POST,
            &format!("/api/v1/catalogs/{id}/slices"),
            Some(&owner.access_token),
            Some(&json!({"name": "bad", "selector": {"include_isrcs": ["nope"], "released_from": "2020-01-01", "released_to": "2010-01-01"}})),
        )
        .await;
    bad.assert_problem(422);
    let fields = bad.error_fields();
    assert!(
        fields.contains(&"selector.include_isrcs[0]".to_string()),
        "{fields:?}"
    );
}

/// Tracks of the catalog (the only one in the test database) matching `keep`,
/// counted from the track rows themselves: the brute-force answer.
fn count_tracks(app: &TestApp, keep: impl Fn(&str, chrono::NaiveDate) -> bool) -> i64 {
    use cadenza::db::schema::tracks::dsl;
    use diesel::prelude::*;
    let rows: Vec<(String, chrono::NaiveDate)> = dsl::tracks
        .select((dsl::genre, dsl::release_date))
        .load(&mut app.connection())
        .unwrap();
    rows.iter().filter(|(g, d)| keep(g, *d)).count() as i64
}

/// (key, track_count) of every month posting.
fn month_postings(app: &TestApp) -> Vec<(String, i64)> {
    use cadenza::db::schema::catalog_postings::dsl;
    use diesel::prelude::*;
    dsl::catalog_postings
        .filter(dsl::kind.eq("release_month"))
        .order(dsl::posting_key.asc())
        .select((dsl::posting_key, dsl::track_count))
        .load(&mut app.connection())
        .unwrap()
}

/// Month counts from the track rows.
fn months_of_tracks(app: &TestApp) -> Vec<(String, i64)> {
    use cadenza::db::schema::tracks::dsl;
    use diesel::prelude::*;
    let dates: Vec<chrono::NaiveDate> = dsl::tracks
        .select(dsl::release_date)
        .load(&mut app.connection())
        .unwrap();
    let mut months = std::collections::BTreeMap::new();
    for d in dates {
        *months.entry(d.format("%Y-%m").to_string()).or_insert(0i64) += 1;
    }
    months.into_iter().collect()
}

async fn catalogs_indexed_before_month_postings_answer_date_ranges(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&app, &owner).await;
    upload(
        &app,
        &owner.access_token,
        &id,
        "text/csv",
        generated(20_000, 5),
    )
    .await
    .assert_status(200);
    assert_eq!(month_postings(&app), months_of_tracks(&app));

    let (from, to) = (
        chrono::NaiveDate::from_ymd_opt(2015, 3, 15).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2022, 9, 29).unwrap(),
    );
    let in_range = |genre: &str, d: chrono::NaiveDate| {
        (genre == "Pop" || genre == "Rock") && from <= d && d <= to
    };
    let slice = |name: &'static str| {
        let app = &app;
        let (token, id) = (owner.access_token.clone(), id.clone());
        async move {
            app.post(
                &format!("/api/v1/catalogs/{id}/slices"),
                Some(&token),
                &json!({"name": name, "selector": {"genres": ["pop", "Rock"],
                        "released_from": "2015-03-15", "released_to": "2022-09-29"}}),
            )
            .await
            .assert_status(201)
            .clone()
        }
    };
    let with_months = slice("with months").await;
    let expected = count_tracks(&app, in_range);
    assert!(expected > 1_000, "{expected}");
    assert_eq!(with_months["track_count"], expected);

    // A catalog imported before month postings existed has none: date ranges
    // are read from year and day postings, with the same answer.
    {
        use cadenza::db::schema::catalog_postings::dsl;
        use diesel::prelude::*;
        diesel::delete(dsl::catalog_postings.filter(dsl::kind.eq("release_month")))
            .execute(&mut app.connection())
            .unwrap();
    }
    assert!(month_postings(&app).is_empty());
    let without_months = slice("without months").await;
    assert_eq!(without_months["track_count"], expected);
    assert_eq!(without_months["content_hash"], with_months["content_hash"]);

    // Its next import builds the months of its earlier tracks too.
    let more = format!(
        "{HEADER}\nQZNEW2400001,New One,Someone,Label 0001,Pop,2015-03-20,200000\n\
         QZNEW2400002,New Two,Someone,Label 0001,Rock,2022-09-29,200000\n\
         QZNEW2400003,New Three,Someone,Label 0001,Pop,2022-09-30,200000\n\
         QZNEW2400004,New Four,Someone,Label 0001,Jazz,2018-06-01,200000\n"
    );
    let report = upload(
        &app,
        &owner.access_token,
        &id,
        "text/csv",
        more.into_bytes(),
    )
    .await;
    assert_eq!(report.assert_status(200)["imported"], 4);
    assert_eq!(month_postings(&app), months_of_tracks(&app));
    let after = slice("after the next import").await;
    assert_eq!(after["track_count"], expected + 2);
    assert_eq!(count_tracks(&app, in_range), expected + 2);
}

/// Cuts the selector of `cached_postings_never_answer_stale_slices`; its track count.
async fn cut_pop_since(app: &TestApp, token: &str, catalog: &str) -> i64 {
    let reply = app
        .post(
            &format!("/api/v1/catalogs/{catalog}/slices"),
            Some(token),
            &json!({"name": "pop since 2010-02-14",
                    "selector": {"genres": ["Pop"], "released_from": "2010-02-14"}}),
        )
        .await;
    reply.assert_status(201)["track_count"]
        .as_i64()
        .expect("a track count")
}

/// Selectors are evaluated on postings cached per node (see
/// `db::postings_cache`). An import changes the postings; the same selector cut
/// again, on the node that imported or on another node of the same database,
/// must count the new tracks: no node may answer from stale postings.
async fn cached_postings_never_answer_stale_slices(backend: Backend) {
    let node_a = spawn_app(backend).await;
    let node_b = spawn_second_node(&node_a, backend).await;
    let owner = node_a.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&node_a, &owner).await;
    upload(
        &node_a,
        &owner.access_token,
        &id,
        "text/csv",
        generated(5_000, 11),
    )
    .await
    .assert_status(200);

    // A genre (exact key) and an open-ended date range (key ranges of years,
    // months and days): both kinds of cache lookup.
    let from = chrono::NaiveDate::from_ymd_opt(2010, 2, 14).unwrap();
    let matches = |genre: &str, d: chrono::NaiveDate| genre == "Pop" && from <= d;
    let (token, id) = (owner.access_token.as_str(), id.as_str());
    let expected = count_tracks(&node_a, matches);
    assert!(expected > 100, "{expected}");
    // First cuts fill each node's cache; the repeated ones are answered from it.
    for _ in 0..2 {
        assert_eq!(cut_pop_since(&node_a, token, id).await, expected);
        assert_eq!(cut_pop_since(&node_b, token, id).await, expected);
    }

    // An import on node A adds matching tracks (into existing and new day,
    // month and year postings) and one that does not match.
    let more = format!(
        "{HEADER}\nQZNEW2500001,New One,Someone,Label 0001,Pop,2010-02-14,200000\n\
         QZNEW2500002,New Two,Someone,Label 0001,Pop,2024-07-01,200000\n\
         QZNEW2500003,New Three,Someone,Label 0001,Pop,2010-02-13,200000\n\
         QZNEW2500004,New Four,Someone,Label 0001,Rock,2020-01-01,200000\n"
    );
    let report = upload(
        &node_a,
        &owner.access_token,
        id,
        "text/csv",
        more.into_bytes(),
    )
    .await;
    assert_eq!(report.assert_status(200)["imported"], 4);
    assert_eq!(count_tracks(&node_a, matches), expected + 2);
    assert_eq!(cut_pop_since(&node_a, token, id).await, expected + 2);
    // Node B cached the same postings at the previous version.
    assert_eq!(cut_pop_since(&node_b, token, id).await, expected + 2);

    // And the other way round: an import on node B, cut on node A.
    let more =
        format!("{HEADER}\nQZNEW2500005,New Five,Someone,Label 0002,Pop,2026-01-02,200000\n");
    let report = upload(
        &node_b,
        &owner.access_token,
        id,
        "text/csv",
        more.into_bytes(),
    )
    .await;
    assert_eq!(report.assert_status(200)["imported"], 1);
    assert_eq!(cut_pop_since(&node_a, token, id).await, expected + 3);
    assert_eq!(cut_pop_since(&node_b, token, id).await, expected + 3);
    assert_eq!(count_tracks(&node_a, matches), expected + 3);
}

/// After warming, a selector's first evaluation on the node finds every posting it
/// needs in the cache, and answers exactly what an uncached evaluation answers.
async fn warmed_postings_serve_the_first_selector(backend: Backend) {
    use cadenza::db::postings_cache::PostingsCache;
    use cadenza::domain::selector::{evaluate, Selector};
    let app = spawn_app(backend).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let id = create_catalog(&app, &owner).await;
    upload(
        &app,
        &owner.access_token,
        &id,
        "text/csv",
        generated(5_000, 9),
    )
    .await
    .assert_status(200);
    let mut conn = app.connection();
    let no = cadenza::db::catalogs::find_catalog(&mut conn, &id)
        .unwrap()
        .unwrap()
        .no;
    let selector = Selector {
        genres: Some(vec!["Pop".into(), "Rock".into()]),
        artists: Some(vec!["Artist 00001".into(), "Artist 00002".into()]),
        released_from: chrono::NaiveDate::from_ymd_opt(2012, 5, 17),
        released_to: chrono::NaiveDate::from_ymd_opt(2024, 2, 3),
        ..Selector::default()
    }
    .validate()
    .unwrap();

    let cache = PostingsCache::new(64 * 1024 * 1024);
    let loaded = cadenza::db::catalogs::warm_postings(&mut conn, &cache, no).unwrap();
    assert!(loaded > 100, "every posting of the catalog: {loaded}");
    assert_eq!(cache.len(), loaded);
    let misses = cache.misses();
    let warm =
        cadenza::db::catalogs::load_selector_index(&mut conn, &cache, no, &selector).unwrap();
    assert_eq!(cache.misses(), misses, "nothing fetched after warming");
    let cold = cadenza::db::catalogs::load_selector_index(
        &mut conn,
        &PostingsCache::disabled(),
        no,
        &selector,
    )
    .unwrap();
    assert_eq!(
        evaluate(&selector, &warm).tracks,
        evaluate(&selector, &cold).tracks
    );

    // Warming stops at half the budget, so it never evicts what selectors use.
    let small = PostingsCache::new(64 * 1024);
    cadenza::db::catalogs::warm_postings(&mut conn, &small, no).unwrap();
    assert!(small.weight_bytes() <= small.budget_bytes());
    assert!(small.len() < loaded);
}

on_both_backends!(
    warmed_postings_serve_the_first_selector,
    cached_postings_never_answer_stale_slices,
    catalogs_are_validated_and_private,
    imports_take_good_rows_and_report_bad_ones,
    unusable_files_import_nothing,
    a_large_import_is_sliced_listed_and_queried,
    catalogs_indexed_before_month_postings_answer_date_ranges,
);
