//! Rights that follow the recording, on both backends: one exclusivity ledger
//! across a licensor's catalogs, the tracks hash a signature commits to, the
//! chain of title (received catalogs, narrowing, upstream ends reaching every
//! grant downstream), self-declared holdings with history and overrides, and
//! what a platform already holds of an offer.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::deals::{market, terms, upload, Market};
use crate::helpers::{Backend, Session, TestApp};
use crate::on_both_backends;

on_both_backends!(
    one_recording_is_never_granted_exclusively_twice_from_two_catalogs,
    the_signature_commits_to_the_isrcs_anyone_can_hash,
    rights_flow_down_a_chain_and_an_upstream_end_reaches_everyone,
    received_rights_only_narrow,
    holdings_are_edited_with_history_and_cuts_mark_grants,
    a_platform_sees_what_it_already_holds_of_an_offer,
    rows_written_before_recordings_are_backfilled_at_start,
);

async fn catalog(app: &TestApp, owner: &Session, name: &str, territories: Value) -> String {
    let reply = app
        .post(
            "/api/v1/catalogs",
            Some(&owner.access_token),
            &json!({"name": name, "territories": territories,
                    "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
        )
        .await;
    reply.assert_status(201)["id"].as_str().unwrap().to_string()
}

async fn cut(app: &TestApp, owner: &Session, catalog: &str, labels: &[&str]) -> (String, i64) {
    let reply = app
        .post(
            &format!("/api/v1/catalogs/{catalog}/slices"),
            Some(&owner.access_token),
            &json!({"name": "cut", "selector": {"labels": labels}}),
        )
        .await;
    let body = reply.assert_status(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["track_count"].as_i64().unwrap(),
    )
}

fn exclusive_cn(slice_id: &str) -> Value {
    let mut t = terms(slice_id);
    t["exclusive"] = json!(true);
    t
}

/// Opens a direct deal as `licensee` (an owner) with `licensor`, submits it and
/// has the licensor accept it: the agreed deal.
async fn agreed_between(
    m: &Market,
    licensee: &Session,
    licensor: &Session,
    terms: &Value,
) -> Value {
    let app = &m.app;
    let deal = app
        .post(
            "/api/v1/deals",
            Some(&licensee.access_token),
            &json!({"counterparty_id": licensor.organization_id, "role": "licensee", "terms": terms}),
        )
        .await
        .assert_status(201)
        .clone();
    agree(m, licensee, licensor, deal).await
}

async fn agree(m: &Market, licensee: &Session, licensor: &Session, deal: Value) -> Value {
    let deal = m
        .act(&licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    m.act(&licensor.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone()
}

/// Both signatures (owners sign): the executed deal, or the refusal of the second.
async fn sign_both(
    m: &Market,
    licensee: &Session,
    licensor: &Session,
    deal: Value,
) -> crate::helpers::Reply {
    let hash = deal["terms_hash"].as_str().unwrap().to_string();
    let deal = m
        .act(
            &licensee.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    m.act(
        &licensor.access_token,
        &deal,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await
}

async fn executed_between(
    m: &Market,
    licensee: &Session,
    licensor: &Session,
    terms: &Value,
) -> Value {
    let deal = agreed_between(m, licensee, licensor, terms).await;
    let done = sign_both(m, licensee, licensor, deal).await;
    let done = done.assert_status(200).clone();
    assert_eq!(done["state"], "executed", "{done}");
    done
}

/// The same ISRCs imported into a second catalog of the licensor are the same
/// recordings: an exclusive grant from one catalog blocks the other.
async fn one_recording_is_never_granted_exclusively_twice_from_two_catalogs(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let feed = catalog(app, &m.licensor, "Label feed", json!(["CN", "HK"])).await;
    upload(app, &m.licensor.access_token, &feed, 5_000).await;
    let (feed_slice, feed_tracks) =
        cut(app, &m.licensor, &feed, &["Label 0001", "Label 0002"]).await;
    assert_eq!(feed_tracks, m.slice_tracks);

    let first = executed_between(&m, &m.licensee, &m.licensor, &exclusive_cn(&m.slice_id)).await;
    let first_grant = first["grant_id"].as_str().unwrap().to_string();

    // A third platform asks for the same recordings from the feed catalog.
    let kugou = app.register("Kugou", "owner@kugou.test").await;
    let deal = agreed_between(&m, &kugou, &m.licensor, &exclusive_cn(&feed_slice)).await;
    assert_eq!(
        deal["advice"]["conflicting_track_count"].as_i64(),
        Some(feed_tracks),
        "advice warns before anyone signs: {deal}"
    );
    let refused = sign_both(&m, &kugou, &m.licensor, deal.clone()).await;
    let body = refused.assert_problem(409);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&first_grant),
        "409 names the first grant: {detail}"
    );
    assert_eq!(
        body["conflict_report"]["conflicting_grants"][0]["grant_id"],
        json!(first_grant)
    );
    assert_eq!(
        body["conflict_report"]["conflicting_track_count"].as_i64(),
        Some(feed_tracks)
    );
    let sample = body["conflict_report"]["sample_isrcs"].as_array().unwrap();
    assert!(!sample.is_empty());
    // Nothing was written: the deal is still agreed, with no grant.
    let after = app
        .get(
            &format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()),
            Some(&kugou.access_token),
        )
        .await;
    assert_eq!(after.assert_status(200)["state"], "agreed");

    // Availability of the feed catalog sees the grant made from the main catalog.
    let avail = app
        .get(
            &format!("/api/v1/catalogs/{feed}/availability?territories=CN&usages=interactive_streaming&start_date=2027-01-01&end_date=2027-12-31&exclusive=true&limit=10"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(
        avail.assert_status(200)["available_count"].as_i64(),
        Some(5_000 - feed_tracks)
    );
    // Non-exclusively, in another territory, the feed's recordings are free.
    let mut hk = terms(&feed_slice);
    hk["territories"] = json!(["HK"]);
    executed_between(&m, &kugou, &m.licensor, &hk).await;
}

/// `tracks_hash` in the terms (and on the grant) is SHA-256 over the sorted
/// ISRCs: a shell one-liner over the grant's CSV gives the same hash.
async fn the_signature_commits_to_the_isrcs_anyone_can_hash(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let slice = app
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let slice_hash = slice.assert_status(200)["content_hash"]
        .as_str()
        .unwrap()
        .to_string();

    // A pinned hash that is not the slice's is refused on the field.
    let mut pinned = terms(&m.slice_id);
    pinned["tracks_hash"] = json!("0".repeat(64));
    let refused = app
        .post(
            "/api/v1/deals",
            Some(&m.licensee.access_token),
            &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": pinned}),
        )
        .await;
    refused.assert_problem(422);
    assert!(refused
        .error_fields()
        .contains(&"terms.tracks_hash".to_string()));

    pinned["tracks_hash"] = json!(slice_hash);
    let done = executed_between(&m, &m.licensee, &m.licensor, &pinned).await;
    assert_eq!(done["terms"]["tracks_hash"], json!(slice_hash));
    let grant_id = done["grant_id"].as_str().unwrap();
    let grant = app
        .get(
            &format!("/api/v1/grants/{grant_id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(grant.assert_status(200)["tracks_hash"], json!(slice_hash));

    let csv = app
        .get(
            &format!("/api/v1/grants/{grant_id}/tracks.csv"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(csv.status.as_u16(), 200);
    assert!(
        csv.text.starts_with("isrc,"),
        "ISRC is the first column: {}",
        &csv.text[..40]
    );
    assert_eq!(sha256sum_of_isrcs(&csv.text), slice_hash);
}

/// What anyone can run on a downloaded track CSV (see docs/rights.md).
fn sha256sum_of_isrcs(csv: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tracks.csv");
    std::fs::write(&file, csv).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "tail -n +2 {} | cut -d, -f1 | LC_ALL=C sort | sha256sum | cut -d' ' -f1",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Tencent → NetEase → Kugou → Migu: each passes on part of what it received.
/// Tencent terminates its grant to NetEase: every grant below is marked (which
/// tracks, from which day), both parties of each are mailed, and the offer built
/// on the ended rights can no longer be taken.
async fn rights_flow_down_a_chain_and_an_upstream_end_reaches_everyone(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let kugou = app.register("Kugou", "owner@kugou.test").await;
    let migu = app.register("Migu", "owner@migu.test").await;

    // Tencent → NetEase: CN+HK, exclusive, sublicensable, 2027–2029.
    let mut t1 = exclusive_cn(&m.slice_id);
    t1["territories"] = json!(["CN", "HK"]);
    t1["sublicensable"] = json!(true);
    let d1 = executed_between(&m, &m.licensee, &m.licensor, &t1).await;
    let g1 = d1["grant_id"].as_str().unwrap().to_string();

    // NetEase takes the rights into a catalog of its own.
    let received = app
        .post(
            &format!("/api/v1/grants/{g1}/catalog"),
            Some(&m.licensee.access_token),
            &json!({"name": "From Tencent"}),
        )
        .await;
    let received = received.assert_status(201).clone();
    assert_eq!(received["backing_grant_id"], json!(g1));
    assert_eq!(received["track_count"].as_i64(), Some(m.slice_tracks));
    let netease_catalog = received["id"].as_str().unwrap().to_string();
    let holding = app
        .get(
            &format!("/api/v1/catalogs/{netease_catalog}/holding"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(holding.assert_status(200)["backing_grant_id"], json!(g1));
    // Taking it twice is refused.
    app.post(
        &format!("/api/v1/grants/{g1}/catalog"),
        Some(&m.licensee.access_token),
        &json!({"name": "Again"}),
    )
    .await
    .assert_problem(409);

    // NetEase offers one label of it on, for CN only, 2027–2028, sublicensable.
    let (ne_slice, ne_tracks) = cut(app, &m.licensee, &netease_catalog, &["Label 0001"]).await;
    assert!(ne_tracks > 0 && ne_tracks < m.slice_tracks);
    let mut t2 = exclusive_cn(&ne_slice);
    t2["end_date"] = json!("2028-12-31");
    t2["sublicensable"] = json!(true);
    let expires = (Utc::now() + Duration::days(30)).to_rfc3339();
    let offer = app
        .post(
            "/api/v1/offers",
            Some(&m.licensee.access_token),
            &json!({"title": "Label 0001 for CN", "slice_id": ne_slice, "terms": t2, "visibility": "public", "expires_at": expires, "publish": true}),
        )
        .await;
    let offer_id = offer.assert_status(201)["id"].as_str().unwrap().to_string();

    // Kugou takes the offer: NetEase → Kugou executes.
    let opened = app
        .post(
            "/api/v1/deals",
            Some(&kugou.access_token),
            &json!({"offer_id": offer_id}),
        )
        .await
        .assert_status(201)
        .clone();
    let d2 = agree(&m, &kugou, &m.licensee, opened).await;
    let d2 = sign_both(&m, &kugou, &m.licensee, d2)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(d2["state"], "executed");
    let g2 = d2["grant_id"].as_str().unwrap().to_string();

    // Kugou passes a part on to Migu, non-exclusively, 2027 only.
    let kugou_catalog = app
        .post(
            &format!("/api/v1/grants/{g2}/catalog"),
            Some(&kugou.access_token),
            &json!({"name": "From NetEase"}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ku_slice, _) = cut(app, &kugou, &kugou_catalog, &["Label 0001"]).await;
    let mut t3 = terms(&ku_slice);
    t3["end_date"] = json!("2027-12-31");
    t3["installments"] = json!([{"due_date": "2027-01-15", "amount": "6000000.00"}]);
    let d3 = executed_between(&m, &migu, &kugou, &t3).await;
    let g3 = d3["grant_id"].as_str().unwrap().to_string();

    for (grant, party) in [(&g2, &kugou), (&g3, &migu)] {
        let backing = app
            .get(
                &format!("/api/v1/grants/{grant}/backing"),
                Some(&party.access_token),
            )
            .await;
        assert_eq!(backing.assert_status(200)["status"], "intact");
    }

    // Tencent terminates its grant to NetEase, effective in 60 days.
    let effective = Utc::now().date_naive() + Duration::days(60);
    let d1_now = app
        .get(
            &format!("/api/v1/deals/{}", d1["id"].as_str().unwrap()),
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)
        .clone();
    m.act(
        &m.licensor.access_token,
        &d1_now,
        "terminate",
        json!({"reason": "breach", "effective_date": effective.to_string()}),
    )
    .await
    .assert_status(200);

    let g2_backing = app
        .get(
            &format!("/api/v1/grants/{g2}/backing"),
            Some(&kugou.access_token),
        )
        .await;
    let g2_backing = g2_backing.assert_status(200).clone();
    assert_eq!(g2_backing["status"], "lost", "{g2_backing}");
    assert_eq!(g2_backing["upstream_grant_id"], json!(g1));
    let loss = &g2_backing["losses"][0];
    assert_eq!(loss["cause"], "upstream_grant_ended");
    assert_eq!(loss["upstream_grant_id"], json!(g1));
    assert_eq!(loss["track_count"].as_i64(), Some(ne_tracks));
    assert_eq!(loss["lost_from"], json!(effective.to_string()));
    // The licensor of the middle grant sees it too.
    app.get(
        &format!("/api/v1/grants/{g2}/backing"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_status(200);

    // Two levels down: Migu's grant loses its backing through Kugou's.
    let g3_backing = app
        .get(
            &format!("/api/v1/grants/{g3}/backing"),
            Some(&migu.access_token),
        )
        .await;
    let g3_backing = g3_backing.assert_status(200).clone();
    assert_eq!(g3_backing["losses"][0]["cause"], "upstream_backing_lost");
    assert_eq!(g3_backing["losses"][0]["upstream_grant_id"], json!(g2));
    assert_eq!(
        g3_backing["losses"][0]["lost_from"],
        json!(effective.to_string())
    );

    // Both parties of each affected deal were told.
    for email in ["owner@netease.test", "owner@kugou.test", "owner@migu.test"] {
        let mails = app.outbox_contexts(email, "grant_backing_lost");
        assert!(!mails.is_empty(), "{email} was mailed");
    }
    assert!(app
        .outbox_contexts("owner@tme.test", "grant_backing_lost")
        .is_empty());

    // The offer built on the ended rights can no longer be taken: the terms
    // no longer fit in the upstream grant, which the refusal names.
    let again = app
        .post(
            "/api/v1/deals",
            Some(&migu.access_token),
            &json!({"offer_id": offer_id}),
        )
        .await;
    let body = again.assert_problem(422).clone();
    assert!(
        body.to_string().contains(&g1),
        "names the upstream grant: {body}"
    );

    // Outsiders see none of it.
    app.get(
        &format!("/api/v1/grants/{g2}/backing"),
        Some(&migu.access_token),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/catalogs/{netease_catalog}/holding"),
        Some(&kugou.access_token),
    )
    .await
    .assert_problem(404);
}

/// Everything passed on is a narrowing of what backs it, refused with the
/// upstream grant and the dimension named.
async fn received_rights_only_narrow(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let kugou = app.register("Kugou", "owner@kugou.test").await;
    // Non-exclusive, sublicensable, CN only, 2027–2029.
    let mut t1 = terms(&m.slice_id);
    t1["sublicensable"] = json!(true);
    let d1 = executed_between(&m, &m.licensee, &m.licensor, &t1).await;
    let g1 = d1["grant_id"].as_str().unwrap().to_string();

    // Others cannot take it; its licensor cannot either.
    for who in [&kugou, &m.licensor] {
        app.post(
            &format!("/api/v1/grants/{g1}/catalog"),
            Some(&who.access_token),
            &json!({"name": "x"}),
        )
        .await
        .assert_problem(404);
    }
    let rc = app
        .post(
            &format!("/api/v1/grants/{g1}/catalog"),
            Some(&m.licensee.access_token),
            &json!({"name": "From TME"}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (slice, _) = cut(app, &m.licensee, &rc, &["Label 0002"]).await;

    let open = |t: Value| {
        let kugou = &kugou;
        let m = &m;
        async move {
            m.app
                .post(
                    "/api/v1/deals",
                    Some(&kugou.access_token),
                    &json!({"counterparty_id": m.licensee.organization_id, "role": "licensee", "terms": t}),
                )
                .await
        }
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("territories", json!(["HK"]), "terms.territories[0]"),
        ("end_date", json!("2030-12-31"), "terms.end_date"),
        ("exclusive", json!(true), "terms.exclusive"),
    ];
    for (field, value, error_field) in cases {
        let mut t = terms(&slice);
        t[field] = value;
        let reply = open(t).await;
        let body = reply.assert_problem(422).clone();
        assert!(
            reply.error_fields().contains(&error_field.to_string()),
            "{body}"
        );
        assert!(
            body.to_string().contains(&format!("upstream grant {g1}")),
            "{body}"
        );
    }
    // Within bounds, it executes.
    let mut fine = terms(&slice);
    fine["end_date"] = json!("2028-12-31");
    fine["installments"] = json!([{"due_date": "2027-01-15", "amount": "6000000.00"}]);
    executed_between(&m, &kugou, &m.licensee, &fine).await;

    // A received catalog holds exactly its grant's tracks and rights.
    let csv = cadenza_csv(5);
    let import = app
        .client
        .post(app.url(&format!("/api/v1/catalogs/{rc}/imports")))
        .bearer_auth(&m.licensee.access_token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    TestApp::reply(import).await.assert_problem(409);
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/catalogs/{rc}/holding"),
        Some(&m.licensee.access_token),
        Some(&json!({"territories": ["worldwide"], "usages": ["download"], "start_date": "2020-01-01", "end_date": "2050-12-31", "sublicensable": true})),
    )
    .await
    .assert_problem(409);

    // A grant that may not be sublicensed cannot be taken into a catalog.
    let mut t4 = terms(&m.slice_id);
    t4["territories"] = json!(["HK"]);
    let d4 = executed_between(&m, &m.licensee, &m.licensor, &t4).await;
    let reply = app
        .post(
            &format!(
                "/api/v1/grants/{}/catalog",
                d4["grant_id"].as_str().unwrap()
            ),
            Some(&m.licensee.access_token),
            &json!({"name": "no"}),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["grant_id".to_string()]);
}

fn cadenza_csv(tracks: u64) -> Vec<u8> {
    let mut csv = Vec::new();
    cadenza::import::generate::generate_catalog(
        &mut csv,
        tracks,
        3,
        cadenza::import::ImportFormat::Csv,
    )
    .unwrap();
    csv
}

/// The catalog's own holding and per-label/recording overrides change as new
/// versions; a cut marks the grants it no longer covers.
async fn holdings_are_edited_with_history_and_cuts_mark_grants(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let put_holding = |territories: Value| {
        let m = &m;
        async move {
            m.app
                .request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/catalogs/{}/holding", m.catalog_id),
                    Some(&m.licensor.access_token),
                    Some(&json!({"territories": territories, "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                                  "start_date": "2020-01-01", "end_date": "2040-12-31", "sublicensable": true})),
                )
                .await
        }
    };
    let d1 = executed_between(&m, &m.licensee, &m.licensor, &terms(&m.slice_id)).await;
    let g1 = d1["grant_id"].as_str().unwrap().to_string();

    // Viewers and negotiators may not edit the holding; another org sees a 404.
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/catalogs/{}/holding", m.catalog_id),
        Some(&m.licensee.access_token),
        Some(&json!({"territories": ["CN"], "usages": ["download"], "start_date": "2020-01-01", "end_date": "2040-12-31", "sublicensable": true})),
    )
    .await
    .assert_problem(404);

    // Widening marks nothing.
    let wider = put_holding(json!(["CN", "HK", "TW", "MO", "SG"])).await;
    assert_eq!(wider.assert_status(200)["grants_marked"], 0);
    // Cutting CN marks the CN grant.
    let cut = put_holding(json!(["HK", "TW", "MO"])).await;
    let cut = cut.assert_status(200).clone();
    assert_eq!(cut["grants_marked"], 1);
    assert_eq!(cut["version"], 3);
    let backing = app
        .get(
            &format!("/api/v1/grants/{g1}/backing"),
            Some(&m.licensee.access_token),
        )
        .await;
    let backing = backing.assert_status(200).clone();
    assert_eq!(backing["losses"][0]["cause"], "holding_cut");
    assert_eq!(
        backing["losses"][0]["track_count"].as_i64(),
        Some(m.slice_tracks)
    );
    assert!(!app
        .outbox_contexts("owner@netease.test", "grant_backing_lost")
        .is_empty());

    let history = app
        .get(
            &format!("/api/v1/catalogs/{}/holding/history", m.catalog_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let versions: Vec<i64> = history.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![3, 2, 1]);
    let holding = app
        .get(
            &format!("/api/v1/catalogs/{}/holding", m.catalog_id),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(
        holding.assert_status(200)["holding"]["territories"],
        json!(["HK", "MO", "TW"])
    );

    // One recording held only in TW: an HK deal on the slice falls short for it.
    let tracks = app
        .get(
            &format!("/api/v1/slices/{}/tracks?limit=1", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let isrc = tracks.assert_status(200)["items"][0]["isrc"]
        .as_str()
        .unwrap()
        .to_string();
    let over = app
        .post(
            &format!("/api/v1/catalogs/{}/holding/overrides", m.catalog_id),
            Some(&m.licensor.access_token),
            &json!({"isrc": isrc, "territories": ["TW"], "usages": ["interactive_streaming", "non_interactive_streaming"],
                    "start_date": "2020-01-01", "end_date": "2040-12-31", "sublicensable": true}),
        )
        .await;
    let override_id = over.assert_status(201)["id"].as_str().unwrap().to_string();
    let mut hk = terms(&m.slice_id);
    hk["territories"] = json!(["HK"]);
    let deal = agreed_between(&m, &m.licensee, &m.licensor, &hk).await;
    assert_eq!(deal["advice"]["unheld_track_count"], 1, "{deal}");
    let refused = sign_both(&m, &m.licensee, &m.licensor, deal.clone()).await;
    let body = refused.assert_problem(409).clone();
    assert_eq!(
        body["conflict_report"]["unheld_sample_isrcs"],
        json!([isrc])
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("the catalog's holding"));
    // Removing the override gives the recording back to the catalog's holding.
    app.request(
        reqwest::Method::DELETE,
        &format!(
            "/api/v1/catalogs/{}/holding/overrides/{override_id}",
            m.catalog_id
        ),
        Some(&m.licensor.access_token),
        None,
    )
    .await
    .assert_status(200);
    let deal = app
        .get(
            &format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()),
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)
        .clone();
    let hash = deal["terms_hash"].as_str().unwrap();
    let done = m
        .act(
            &m.licensor.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await;
    assert_eq!(done.assert_status(200)["state"], "executed");
}

/// "You already hold N of these in CN": the licensee's received grants and own
/// catalogs, per territory of an offer it can see.
async fn a_platform_sees_what_it_already_holds_of_an_offer(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    executed_between(&m, &m.licensee, &m.licensor, &terms(&m.slice_id)).await;
    // NetEase's own catalog holds the first 1,000 of the same recordings in TW.
    let own = catalog(app, &m.licensee, "NetEase own", json!(["TW"])).await;
    upload(app, &m.licensee.access_token, &own, 1_000).await;

    let mut offered = terms(&m.slice_id);
    offered["territories"] = json!(["CN", "HK", "TW"]);
    let expires = (Utc::now() + Duration::days(30)).to_rfc3339();
    let kugou = app.register("Kugou", "owner@kugou.test").await;
    let offer = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": "CN HK TW", "slice_id": m.slice_id, "terms": offered, "visibility": [m.licensee.organization_id],
                    "expires_at": expires, "publish": true}),
        )
        .await;
    let offer_id = offer.assert_status(201)["id"].as_str().unwrap().to_string();
    let overlap = app
        .get(
            &format!("/api/v1/offers/{offer_id}/overlap"),
            Some(&m.licensee.access_token),
        )
        .await;
    let overlap = overlap.assert_status(200).clone();
    assert_eq!(overlap["track_count"].as_i64(), Some(m.slice_tracks));
    let by: Vec<(String, i64)> = overlap["by_territory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["territory"].as_str().unwrap().to_string(),
                t["held_track_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by[0], ("CN".to_string(), m.slice_tracks));
    assert_eq!(by[1], ("HK".to_string(), 0));
    assert_eq!(by[2].0, "TW");
    assert!(by[2].1 > 0 && by[2].1 < m.slice_tracks, "{by:?}");
    assert_eq!(overlap["held_track_count"].as_i64(), Some(m.slice_tracks));
    let kinds: Vec<&str> = overlap["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["catalog", "received_grant"]);
    // The licensee downloads what it would sign for and checks the hash itself.
    let csv = app
        .get(
            &format!("/api/v1/offers/{offer_id}/tracks.csv"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(csv.status.as_u16(), 200);
    assert_eq!(csv.text.lines().count() as i64, m.slice_tracks + 1);
    let offer = app
        .get(
            &format!("/api/v1/offers/{offer_id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        json!(sha256sum_of_isrcs(&csv.text)),
        offer.assert_status(200)["terms"]["tracks_hash"]
    );
    // An organization the offer is not aimed at cannot see it, nor its overlap.
    app.get(
        &format!("/api/v1/offers/{offer_id}/overlap"),
        Some(&kugou.access_token),
    )
    .await
    .assert_problem(404);
}

/// Rows written before rights were per recording have no recording sets and
/// hash slices over track ids: the next start fills them in (the migration's
/// backfill), after which the exclusivity ledger spans catalogs for them too.
async fn rows_written_before_recordings_are_backfilled_at_start(backend: Backend) {
    use cadenza::db::schema::{catalogs, grants, slices};
    use diesel::prelude::*;
    let m = market(backend, true).await;
    let app = &m.app;
    let first = executed_between(&m, &m.licensee, &m.licensor, &exclusive_cn(&m.slice_id)).await;
    let grant_id = first["grant_id"].as_str().unwrap().to_string();
    let slice = app
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    let hash = slice.assert_status(200)["content_hash"]
        .as_str()
        .unwrap()
        .to_string();
    {
        // As an older version left them.
        let mut conn = app.connection();
        diesel::update(catalogs::table)
            .set(catalogs::recordings.eq(None::<Vec<u8>>))
            .execute(&mut conn)
            .unwrap();
        diesel::update(slices::table)
            .set((
                slices::recordings.eq(None::<Vec<u8>>),
                slices::content_hash.eq("track-id hash"),
            ))
            .execute(&mut conn)
            .unwrap();
        diesel::update(grants::table)
            .set(grants::tracks_hash.eq("track-id hash"))
            .execute(&mut conn)
            .unwrap();
    }
    let node = crate::helpers::spawn_second_node(app, backend).await;
    let slice = node
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(slice.assert_status(200)["content_hash"], json!(hash));
    let grant = node
        .get(
            &format!("/api/v1/grants/{grant_id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(grant.assert_status(200)["tracks_hash"], json!(hash));
    // The backfilled grant blocks the same recordings imported into a new catalog.
    let feed = catalog(&node, &m.licensor, "Label feed", json!(["CN"])).await;
    upload(&node, &m.licensor.access_token, &feed, 5_000).await;
    let (feed_slice, _) = cut(&node, &m.licensor, &feed, &["Label 0001"]).await;
    let kugou = node.register("Kugou", "owner@kugou.test").await;
    let deal = node
        .post(
            "/api/v1/deals",
            Some(&kugou.access_token),
            &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": exclusive_cn(&feed_slice)}),
        )
        .await;
    let deal = deal.assert_status(201).clone();
    assert!(
        deal["advice"]["conflicting_track_count"].as_i64().unwrap() > 0,
        "{deal}"
    );
    assert_eq!(
        deal["advice"]["conflicting_grants"][0]["grant_id"],
        json!(grant_id)
    );
}
