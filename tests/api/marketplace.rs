//! The marketplace on both backends: offers validated against holdings, drafts,
//! publish, withdraw and expiry; browsing with filters, sorting, cursors and
//! facets; "who offers this recording"; requests and matching; and that nothing
//! meant for others ever reaches a third organization.

use cadenza::import::{generate::generate_catalog, ImportFormat};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Session, TestApp};
use crate::on_both_backends;

const TRACKS: u64 = 3_000;

/// One generated track, as its CSV row says (track id = row index).
#[derive(Debug, Clone)]
struct Row {
    isrc: String,
    label: String,
    genre: String,
}

/// A licensor with a catalog of generated tracks, a licensee, and a third
/// organization that must never see what is not meant for it.
struct Market {
    app: TestApp,
    licensor: Session,
    licensee: Session,
    third: Session,
    rows: Vec<Row>,
    /// Every Pop track of the catalog.
    pop_slice: String,
    /// The whole catalog.
    all_slice: String,
}

fn generated() -> (Vec<u8>, Vec<Row>) {
    let mut csv = Vec::new();
    generate_catalog(&mut csv, TRACKS, 11, ImportFormat::Csv).unwrap();
    let rows = String::from_utf8(csv.clone())
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split(',').collect();
            Row {
                isrc: cols[0].to_string(),
                label: cols[3].to_string(),
                genre: cols[4].to_string(),
            }
        })
        .collect();
    (csv, rows)
}

async fn cut(app: &TestApp, token: &str, catalog: &str, selector: Value) -> (String, i64) {
    let reply = app
        .post(
            &format!("/api/v1/catalogs/{catalog}/slices"),
            Some(token),
            &json!({"name": "slice", "selector": selector}),
        )
        .await;
    let body = reply.assert_status(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["track_count"].as_i64().unwrap(),
    )
}

async fn market(backend: Backend) -> Market {
    let app = spawn_app(backend).await;
    let licensor = app.register("Tencent Music", "owner@tme.test").await;
    let licensee = app
        .register("NetEase Cloud Music", "owner@netease.test")
        .await;
    let third = app.register("Third Platform", "owner@third.test").await;
    let catalog = app
        .post(
            "/api/v1/catalogs",
            Some(&licensor.access_token),
            &json!({"name": "TME main", "territories": ["CN", "HK", "TW"],
                    "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2020-01-01", "holding_end": "2035-12-31", "sublicensable": true}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (csv, rows) = generated();
    let response = app
        .client
        .post(app.url(&format!("/api/v1/catalogs/{catalog}/imports")))
        .bearer_auth(&licensor.access_token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let imported = TestApp::reply(response).await;
    assert_eq!(
        imported.assert_status(200)["imported"],
        json!(TRACKS),
        "{}",
        imported.text
    );
    let (pop_slice, _) = cut(
        &app,
        &licensor.access_token,
        &catalog,
        json!({"genres": ["Pop"]}),
    )
    .await;
    let (all_slice, _) = cut(&app, &licensor.access_token, &catalog, json!({})).await;
    Market {
        app,
        licensor,
        licensee,
        third,
        rows,
        pop_slice,
        all_slice,
    }
}

fn terms(slice: &str) -> Value {
    json!({
        "slice_id": slice,
        "territories": ["CN", "HK"],
        "usages": ["interactive_streaming"],
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "exclusive": false,
        "sublicensable": false,
        "currency": "CNY",
        "upfront_fee": "1000000.00",
        "minimum_guarantee": null,
        "per_stream_rate": "0.0045",
        "revenue_share_percent": null,
        "installments": [{"due_date": "2027-01-15", "amount": "1000000.00"}],
        "clauses": null,
        "respond_by": null
    })
}

fn offer_body(title: &str, slice: &str, terms: Value, visibility: Value) -> Value {
    json!({"title": title, "slice_id": slice, "terms": terms, "visibility": visibility,
           "expires_at": "2030-01-01T00:00:00Z"})
}

impl Market {
    async fn offer(&self, body: &Value) -> Value {
        self.app
            .post("/api/v1/offers", Some(&self.licensor.access_token), body)
            .await
            .assert_status(201)
            .clone()
    }

    async fn browse(&self, who: &Session, query: &str) -> Value {
        self.app
            .get(&format!("/api/v1/offers{query}"), Some(&who.access_token))
            .await
            .assert_status(200)
            .clone()
    }

    fn pop_rows(&self) -> Vec<(usize, &Row)> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.genre == "Pop")
            .collect()
    }

    fn non_pop_isrc(&self) -> String {
        self.rows
            .iter()
            .find(|r| r.genre != "Pop")
            .unwrap()
            .isrc
            .clone()
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn facet(page: &Value, kind: &str, value: &str) -> Option<i64> {
    page["facets"][kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["value"] == value)
        .map(|f| f["offers"].as_i64().unwrap())
}

// ---- tests ---------------------------------------------------------------------------

async fn offers_cannot_ask_for_rights_the_catalog_does_not_hold(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let mut bad = terms(&m.pop_slice);
    bad["territories"] = json!(["CN", "US"]);
    bad["usages"] = json!(["video"]);
    bad["end_date"] = json!("2036-06-30");
    bad["installments"] = json!([{"due_date": "2027-01-15", "amount": "1000000.00"}]);
    let reply = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &offer_body("Too much", &m.pop_slice, bad, json!("public")),
        )
        .await;
    reply.assert_problem(422);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["terms.end_date", "terms.territories[1]", "terms.usages[0]"],
        "{}",
        reply.text
    );

    // A catalog held without the right to sublicense cannot offer sublicensable terms.
    let closed = app
        .post(
            "/api/v1/catalogs",
            Some(&m.licensor.access_token),
            &json!({"name": "Held only", "territories": ["CN"], "usages": ["download"],
                    "holding_start": "2020-01-01", "holding_end": "2035-12-31", "sublicensable": false}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (closed_slice, _) = cut(app, &m.licensor.access_token, &closed, json!({})).await;
    let mut sub = terms(&closed_slice);
    sub["territories"] = json!(["CN"]);
    sub["usages"] = json!(["download"]);
    sub["sublicensable"] = json!(true);
    let reply = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &offer_body("Sub", &closed_slice, sub, json!("public")),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(
        reply.error_fields(),
        vec!["terms.sublicensable"],
        "{}",
        reply.text
    );

    // terms.slice_id must be the offered slice; the slice must be the caller's;
    // the expiry in the future; the audience real organizations.
    let reply = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &offer_body(
                "Mismatch",
                &m.pop_slice,
                terms(&m.all_slice),
                json!("public"),
            ),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["terms.slice_id"]);
    let reply = app
        .post(
            "/api/v1/offers",
            Some(&m.licensee.access_token),
            &offer_body(
                "Not mine",
                &m.pop_slice,
                terms(&m.pop_slice),
                json!("public"),
            ),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["slice_id"]);
    let mut past = offer_body(
        "Past",
        &m.pop_slice,
        terms(&m.pop_slice),
        json!(["nope", m.licensor.organization_id]),
    );
    past["expires_at"] = json!("2020-01-01T00:00:00Z");
    let reply = app
        .post("/api/v1/offers", Some(&m.licensor.access_token), &past)
        .await;
    reply.assert_problem(422);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["expires_at", "visibility[1]"],
        "{}",
        reply.text
    );
    let reply = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &offer_body(
                "Unknown target",
                &m.pop_slice,
                terms(&m.pop_slice),
                json!(["no-such-org"]),
            ),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["visibility[0]"]);

    // Viewers read but do not offer.
    let viewer = app
        .add_member(&m.licensor, "viewer@tme.test", "viewer")
        .await;
    app.post(
        "/api/v1/offers",
        Some(&viewer.access_token),
        &offer_body("Viewer", &m.pop_slice, terms(&m.pop_slice), json!("public")),
    )
    .await
    .assert_problem(403);
    let nothing = m.browse(&m.licensee, "").await;
    assert_eq!(nothing["items"], json!([]));
    assert_eq!(nothing["total"], json!(0));
}

async fn drafts_publish_withdraw_and_the_offer_view(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let mut draft = offer_body(
        "Pop for HK",
        &m.pop_slice,
        terms(&m.pop_slice),
        json!("public"),
    );
    draft["publish"] = json!(false);
    let created = m.offer(&draft).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["published_at"], Value::Null);
    let pop = m.pop_rows();
    assert_eq!(created["track_count"], json!(pop.len()));
    assert_eq!(created["catalog"]["name"], "TME main");
    assert_eq!(created["licensor"]["name"], "Tencent Music");
    assert_eq!(created["asking_price"], "1000000.00");
    assert_eq!(created["terms"]["territories"], json!(["CN", "HK"]));
    let sample: Vec<&str> = created["sample_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["isrc"].as_str().unwrap())
        .collect();
    let first_five: Vec<&str> = pop.iter().take(5).map(|(_, r)| r.isrc.as_str()).collect();
    assert_eq!(
        sample, first_five,
        "the sample is the slice's first tracks by id"
    );

    // A draft is the licensor's alone.
    assert_eq!(ids(&m.browse(&m.licensee, "").await), Vec::<String>::new());
    app.get(
        &format!("/api/v1/offers/{id}"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_problem(404);
    let mine = m.browse(&m.licensor, "?mine=true").await;
    assert_eq!(ids(&mine), vec![id.clone()]);

    // Others cannot publish or withdraw it.
    app.post(
        &format!("/api/v1/offers/{id}/publish"),
        Some(&m.licensee.access_token),
        &json!({}),
    )
    .await
    .assert_problem(404);
    let published = app
        .post(
            &format!("/api/v1/offers/{id}/publish"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(published.assert_status(200)["status"], "published");
    let conflict = app
        .post(
            &format!("/api/v1/offers/{id}/publish"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    let problem = conflict.assert_problem(409);
    assert_eq!(problem["state"], "published");
    assert_eq!(problem["allowed_actions"], json!(["withdraw"]));
    assert_eq!(ids(&m.browse(&m.licensee, "").await), vec![id.clone()]);
    app.get(
        &format!("/api/v1/offers/{id}"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_status(200);

    app.post(
        &format!("/api/v1/offers/{id}/withdraw"),
        Some(&m.licensee.access_token),
        &json!({}),
    )
    .await
    .assert_problem(404);
    let withdrawn = app
        .post(
            &format!("/api/v1/offers/{id}/withdraw"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(withdrawn.assert_status(200)["status"], "withdrawn");
    app.post(
        &format!("/api/v1/offers/{id}/withdraw"),
        Some(&m.licensor.access_token),
        &json!({}),
    )
    .await
    .assert_problem(409);
    assert_eq!(ids(&m.browse(&m.licensee, "").await), Vec::<String>::new());
    app.get(
        &format!("/api/v1/offers/{id}"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_problem(404);
    let own = app
        .get(
            &format!("/api/v1/offers/{id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(own.assert_status(200)["status"], "withdrawn");
}

async fn browsing_filters_sorts_pages_and_counts_facets(backend: Backend) {
    let m = market(backend).await;
    // Three offers: Pop in CN+HK (cheap), the whole catalog in TW exclusively (dear),
    // and the whole catalog in CN+HK+TW for downloads (per-stream only, no upfront).
    let pop = m
        .offer(&offer_body(
            "Pop CN HK",
            &m.pop_slice,
            terms(&m.pop_slice),
            json!("public"),
        ))
        .await;
    let mut tw = terms(&m.all_slice);
    tw["territories"] = json!(["TW"]);
    tw["exclusive"] = json!(true);
    tw["upfront_fee"] = json!("5000000.00");
    tw["installments"] = json!([{"due_date": "2027-01-15", "amount": "5000000.00"}]);
    let all_tw = m
        .offer(&offer_body(
            "Everything TW",
            &m.all_slice,
            tw,
            json!("public"),
        ))
        .await;
    let mut dl = terms(&m.all_slice);
    dl["territories"] = json!(["CN", "HK", "TW"]);
    dl["usages"] = json!(["download"]);
    dl["upfront_fee"] = json!(null);
    dl["installments"] = json!([]);
    let all_dl = m
        .offer(&offer_body("Downloads", &m.all_slice, dl, json!("public")))
        .await;
    let [pop, all_tw, all_dl] =
        [&pop, &all_tw, &all_dl].map(|o| o["id"].as_str().unwrap().to_string());

    let everything = m.browse(&m.licensee, "").await;
    assert_eq!(
        ids(&everything),
        vec![all_dl.clone(), all_tw.clone(), pop.clone()],
        "newest first"
    );
    assert_eq!(everything["total"], 3);
    assert_eq!(facet(&everything, "territory", "TW"), Some(2));
    assert_eq!(facet(&everything, "territory", "CN"), Some(2));
    assert_eq!(facet(&everything, "genre", "Pop"), Some(3));
    let non_pop_genre = m
        .rows
        .iter()
        .find(|r| r.genre != "Pop")
        .unwrap()
        .genre
        .clone();
    assert_eq!(
        facet(&everything, "genre", &non_pop_genre),
        Some(2),
        "only whole-catalog offers have it"
    );

    check(&m, "?territory=tw", &[&all_dl, &all_tw]).await;
    check(&m, "?territory=HK&usage=interactive_streaming", &[&pop]).await;
    check(&m, "?usage=download", &[&all_dl]).await;
    check(&m, "?exclusive=true", &[&all_tw]).await;
    check(&m, "?genre=pop", &[&all_dl, &all_tw, &pop]).await;
    let genre_query = format!("?genre={}", urlencode(&non_pop_genre));
    check(&m, &genre_query, &[&all_dl, &all_tw]).await;
    // A label only present among non-Pop tracks is only in the whole-catalog offers.
    let pop_labels: std::collections::HashSet<&str> =
        m.pop_rows().iter().map(|(_, r)| r.label.as_str()).collect();
    if let Some(label) = m
        .rows
        .iter()
        .find(|r| !pop_labels.contains(r.label.as_str()))
    {
        let q = format!("?label={}", urlencode(&label.label.to_uppercase()));
        check(&m, &q, &[&all_dl, &all_tw]).await;
    }
    check(&m, "?label=No%20Such%20Label", &[]).await;
    let min = format!("?min_tracks={}", m.pop_rows().len() + 1);
    check(&m, &min, &[&all_dl, &all_tw]).await;
    check(&m, "?max_price=1000000&currency=CNY", &[&all_dl, &pop]).await;
    check(&m, "?max_price=999999.99&currency=cny", &[&all_dl]).await;
    check(&m, "?currency=EUR", &[]).await;
    let licensor = format!("?licensor={}", m.licensor.organization_id);
    check(&m, &licensor, &[&all_dl, &all_tw, &pop]).await;
    let other = format!("?licensor={}", m.third.organization_id);
    check(&m, &other, &[]).await;

    // Sorting and cursors.
    let by_price = m.browse(&m.licensee, "?sort=price&currency=CNY").await;
    assert_eq!(
        ids(&by_price),
        vec![all_dl.clone(), pop.clone(), all_tw.clone()]
    );
    let by_size = m.browse(&m.licensee, "?sort=size").await;
    assert_eq!(ids(&by_size)[2], pop);
    for sort in ["newest", "size", "price"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..5 {
            let query = match &cursor {
                None => format!("?sort={sort}&currency=CNY&limit=1&facets=false"),
                Some(c) => format!("?sort={sort}&currency=CNY&limit=1&facets=false&cursor={c}"),
            };
            let page = m.browse(&m.licensee, &query).await;
            assert!(page["facets"].is_null());
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let full = m
            .browse(&m.licensee, &format!("?sort={sort}&currency=CNY"))
            .await;
        assert_eq!(
            seen,
            ids(&full),
            "pages of {sort} walk the same order without repeats"
        );
    }

    // Bad filters name the parameter.
    for (query, field) in [
        ("?territory=XX", "territory"),
        ("?usage=streaming", "usage"),
        ("?max_price=10", "currency"),
        ("?max_price=1.234&currency=CNY", "max_price"),
        ("?sort=price", "currency"),
        ("?sort=popular", "sort"),
        ("?min_tracks=-1", "min_tracks"),
    ] {
        let reply = m
            .app
            .get(
                &format!("/api/v1/offers{query}"),
                Some(&m.licensee.access_token),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), vec![field], "{query}");
    }
    let reply = m
        .app
        .get(
            "/api/v1/offers?sort=size&cursor=bm9wZQ",
            Some(&m.licensee.access_token),
        )
        .await;
    reply.assert_problem(400);
}

/// Browsing as the licensee with `query` lists exactly `expected`, and the total
/// (over all pages) agrees.
async fn check(m: &Market, query: &str, expected: &[&String]) {
    let page = m.browse(&m.licensee, query).await;
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(ids(&page), expected, "{query}");
    assert_eq!(
        page["total"],
        json!(expected.len()),
        "{query}: facets count the filtered set"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn who_offers_a_recording(backend: Backend) {
    let m = market(backend).await;
    let pop = m
        .offer(&offer_body(
            "Pop",
            &m.pop_slice,
            terms(&m.pop_slice),
            json!("public"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let all = m
        .offer(&offer_body(
            "All",
            &m.all_slice,
            terms(&m.all_slice),
            json!("public"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, pop_row) = m.pop_rows()[3];
    let lookup = |isrc: String| {
        let m = &m;
        async move {
            ids(m
                .app
                .get(
                    &format!("/api/v1/marketplace/tracks/{isrc}"),
                    Some(&m.licensee.access_token),
                )
                .await
                .assert_status(200))
        }
    };
    let mut both = vec![pop.clone(), all.clone()];
    both.sort();
    let mut found = lookup(pop_row.isrc.clone()).await;
    found.sort();
    assert_eq!(found, both);
    // Hyphenated input is the same recording.
    let hyphenated = format!(
        "{}-{}-{}-{}",
        &pop_row.isrc[..2],
        &pop_row.isrc[2..5],
        &pop_row.isrc[5..7],
        &pop_row.isrc[7..]
    );
    assert_eq!(lookup(hyphenated).await.len(), 2);
    assert_eq!(lookup(m.non_pop_isrc()).await, vec![all.clone()]);
    assert_eq!(lookup("ZZZZZ9912345".into()).await, Vec::<String>::new());
    let reply = m
        .app
        .get(
            "/api/v1/marketplace/tracks/not-an-isrc",
            Some(&m.licensee.access_token),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["isrc"]);
}

async fn requests_match_offers_both_ways_and_announce_them(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let pop = m.pop_rows();
    // Three Pop ISRCs, one non-Pop, one nobody holds.
    let wanted: Vec<String> = pop.iter().take(3).map(|(_, r)| r.isrc.clone()).collect();
    let mut isrcs = wanted.clone();
    isrcs.push(m.non_pop_isrc());
    isrcs.push("ZZZZZ9912345".into());
    let request = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "Hits for HK", "isrcs": isrcs, "territories": ["HK"],
                    "usages": ["interactive_streaming"], "start_date": "2027-06-01",
                    "end_date": "2028-12-31", "budget": "1500000.00", "currency": "CNY",
                    "visibility": "public", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let request = request.assert_status(201).clone();
    let request_id = request["id"].as_str().unwrap().to_string();
    assert_eq!(request["isrc_count"], 5);
    assert_eq!(request["budget"], "1500000.00");
    assert_eq!(request["organization"]["name"], "NetEase Cloud Music");

    // A selector request for the same rights.
    let by_genre = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "All the Pop", "selector": {"genres": ["pop"]}, "territories": ["CN"],
                    "usages": ["interactive_streaming"], "start_date": "2027-01-01",
                    "end_date": "2027-12-31", "currency": "CNY",
                    "visibility": "public", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Publishing a matching offer tells the licensee.
    let pop_offer = m
        .offer(&offer_body(
            "Pop",
            &m.pop_slice,
            terms(&m.pop_slice),
            json!("public"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let announced = app.outbox_contexts("owner@netease.test", "offer_matched_request");
    assert_eq!(announced.len(), 2, "{announced:?}");
    let for_isrcs = announced
        .iter()
        .find(|c| c["request"]["id"] == request_id.as_str())
        .unwrap();
    assert_eq!(for_isrcs["track_count"], 3);
    assert_eq!(for_isrcs["offer"]["id"], pop_offer.as_str());
    assert!(app
        .outbox_contexts("owner@third.test", "offer_matched_request")
        .is_empty());

    // An offer that does not cover the request's territory does not match.
    let mut tw = terms(&m.all_slice);
    tw["territories"] = json!(["TW"]);
    m.offer(&offer_body("TW only", &m.all_slice, tw, json!("public")))
        .await;
    let all_offer = m
        .offer(&offer_body(
            "All",
            &m.all_slice,
            terms(&m.all_slice),
            json!("public"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let matches = app
        .get(
            &format!("/api/v1/requests/{request_id}/matches"),
            Some(&m.licensee.access_token),
        )
        .await;
    let matches = matches.assert_status(200);
    let found: Vec<(String, u64, u64)> = matches["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["offer"]["id"].as_str().unwrap().to_string(),
                i["covered_tracks"].as_u64().unwrap(),
                i["requested_tracks_in_catalog"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![(all_offer.clone(), 4, 4), (pop_offer.clone(), 3, 4)]
    );
    assert_eq!(matches["items"][0]["within_budget"], true);

    let genre_matches = app
        .get(
            &format!("/api/v1/requests/{by_genre}/matches"),
            Some(&m.licensee.access_token),
        )
        .await;
    let genre_matches = genre_matches.assert_status(200);
    assert_eq!(genre_matches["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        genre_matches["items"][0]["covered_tracks"],
        json!(pop.len())
    );

    // From the offer's side: the requests it could satisfy (licensor only).
    let for_offer = app
        .get(
            &format!("/api/v1/offers/{pop_offer}/matches"),
            Some(&m.licensor.access_token),
        )
        .await;
    let for_offer = for_offer.assert_status(200);
    let mut request_ids: Vec<(String, u64)> = for_offer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["request"]["id"].as_str().unwrap().to_string(),
                i["covered_tracks"].as_u64().unwrap(),
            )
        })
        .collect();
    request_ids.sort();
    let mut expected = vec![
        (request_id.clone(), 3),
        (by_genre.clone(), pop.len() as u64),
    ];
    expected.sort();
    assert_eq!(request_ids, expected);
    app.get(
        &format!("/api/v1/offers/{pop_offer}/matches"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_problem(404);

    // Requests are validated field by field.
    let reply = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "Bad", "isrcs": ["US-XXX-99-1", "CNA012400001"], "territories": ["XX"],
                    "usages": ["streaming"], "start_date": "2028-01-01", "end_date": "2027-01-01",
                    "budget": "12.345", "currency": "CNY", "visibility": "friends",
                    "expires_at": "soon"}),
        )
        .await;
    reply.assert_problem(422);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "budget",
            "end_date",
            "expires_at",
            "isrcs[0]",
            "territories[0]",
            "usages[0]",
            "visibility"
        ],
        "{}",
        reply.text
    );
    let reply = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "Both", "isrcs": ["CNA012400001"], "selector": {}, "territories": ["CN"],
                    "usages": ["download"], "start_date": "2027-01-01", "end_date": "2027-12-31",
                    "currency": "CNY", "visibility": "public", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), vec!["selector"]);

    // Withdrawing a request takes it off the market; only its author may.
    app.post(
        &format!("/api/v1/requests/{request_id}/withdraw"),
        Some(&m.licensor.access_token),
        &json!({}),
    )
    .await
    .assert_problem(404);
    let withdrawn = app
        .post(
            &format!("/api/v1/requests/{request_id}/withdraw"),
            Some(&m.licensee.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(withdrawn.assert_status(200)["status"], "withdrawn");
    app.post(
        &format!("/api/v1/requests/{request_id}/withdraw"),
        Some(&m.licensee.access_token),
        &json!({}),
    )
    .await
    .assert_problem(409);
    app.get(
        &format!("/api/v1/requests/{request_id}"),
        Some(&m.licensor.access_token),
    )
    .await
    .assert_problem(404);
    let listed = app
        .get("/api/v1/requests", Some(&m.licensor.access_token))
        .await;
    assert_eq!(ids(listed.assert_status(200)), vec![by_genre.clone()]);
    let mine = app
        .get("/api/v1/requests?mine=true", Some(&m.licensee.access_token))
        .await;
    assert_eq!(ids(mine.assert_status(200)).len(), 2);
}

/// A targeted offer and a targeted request, checked from the third organization on
/// every endpoint that lists or shows marketplace data.
async fn targeted_listings_never_reach_a_third_organization(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let offer = m
        .offer(&offer_body(
            "Only for NetEase",
            &m.pop_slice,
            terms(&m.pop_slice),
            json!([m.licensee.organization_id]),
        ))
        .await;
    let offer_id = offer["id"].as_str().unwrap().to_string();
    assert_eq!(offer["visibility"], "targeted");
    assert_eq!(
        offer["target_organization_ids"],
        json!([m.licensee.organization_id])
    );
    let (_, row) = m.pop_rows()[0];

    let request_for = |title: &str, visibility: Value, who: &Session| {
        let body = json!({"title": title, "isrcs": [row.isrc], "territories": ["HK"],
            "usages": ["interactive_streaming"], "start_date": "2027-06-01", "end_date": "2028-12-31",
            "currency": "CNY", "visibility": visibility, "expires_at": "2030-01-01T00:00:00Z"});
        let token = who.access_token.clone();
        async move {
            app.post("/api/v1/requests", Some(&token), &body)
                .await
                .assert_status(201)["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // NetEase asks Tencent only; the third organization asks publicly.
    let private_request = request_for(
        "For Tencent only",
        json!([m.licensor.organization_id]),
        &m.licensee,
    )
    .await;
    let third_request = request_for("Third wants it", json!("public"), &m.third).await;

    // The licensee sees the offer everywhere.
    assert_eq!(
        ids(&m.browse(&m.licensee, "").await),
        vec![offer_id.clone()]
    );
    let seen = app
        .get(
            &format!("/api/v1/offers/{offer_id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert!(
        seen.assert_status(200)
            .get("target_organization_ids")
            .is_none(),
        "targets are shown to the licensor only"
    );
    assert_eq!(
        ids(app
            .get(
                &format!("/api/v1/marketplace/tracks/{}", row.isrc),
                Some(&m.licensee.access_token)
            )
            .await
            .assert_status(200)),
        vec![offer_id.clone()]
    );

    // The third organization sees none of it, through any endpoint.
    let third = &m.third.access_token;
    let page = m.browse(&m.third, "").await;
    assert_eq!(ids(&page), Vec::<String>::new());
    assert_eq!(page["total"], 0);
    assert_eq!(page["facets"]["genre"], json!([]));
    assert_eq!(page["facets"]["territory"], json!([]));
    let licensor_filter = format!("?licensor={}", m.licensor.organization_id);
    assert_eq!(
        ids(&m.browse(&m.third, &licensor_filter).await),
        Vec::<String>::new()
    );
    app.get(&format!("/api/v1/offers/{offer_id}"), Some(third))
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/offers/{offer_id}/matches"), Some(third))
        .await
        .assert_problem(404);
    assert_eq!(
        ids(app
            .get(
                &format!("/api/v1/marketplace/tracks/{}", row.isrc),
                Some(third)
            )
            .await
            .assert_status(200)),
        Vec::<String>::new()
    );
    let third_matches = app
        .get(
            &format!("/api/v1/requests/{third_request}/matches"),
            Some(third),
        )
        .await;
    assert_eq!(third_matches.assert_status(200)["items"], json!([]));
    // Nor the private request.
    app.get(&format!("/api/v1/requests/{private_request}"), Some(third))
        .await
        .assert_problem(404);
    app.get(
        &format!("/api/v1/requests/{private_request}/matches"),
        Some(third),
    )
    .await
    .assert_problem(404);
    let listed = app.get("/api/v1/requests", Some(third)).await;
    assert_eq!(ids(listed.assert_status(200)), vec![third_request.clone()]);
    // And was told nothing about the offer.
    assert!(app
        .outbox_contexts("owner@third.test", "offer_matched_request")
        .is_empty());

    // The licensor sees the private request, and the licensee's match sees the offer.
    let listed = app
        .get("/api/v1/requests", Some(&m.licensor.access_token))
        .await;
    let mut seen = ids(listed.assert_status(200));
    seen.sort();
    let mut both = vec![private_request.clone(), third_request.clone()];
    both.sort();
    assert_eq!(seen, both);
    let matches = app
        .get(
            &format!("/api/v1/requests/{private_request}/matches"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        matches.assert_status(200)["items"][0]["offer"]["id"],
        offer_id.as_str()
    );
    // From the offer: the licensee's private request and the third's public one both
    // could be satisfied; the licensor sees both because both are visible to it.
    let offer_matches = app
        .get(
            &format!("/api/v1/offers/{offer_id}/matches"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(
        offer_matches.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The deal code's entry points apply the same rules.
    let mut conn = app.connection();
    use cadenza::db::marketplace::{find_visible_offer, find_visible_request};
    assert!(
        find_visible_offer(&mut conn, &m.licensee.organization_id, &offer_id)
            .unwrap()
            .is_some()
    );
    assert!(
        find_visible_offer(&mut conn, &m.third.organization_id, &offer_id)
            .unwrap()
            .is_none()
    );
    assert!(
        find_visible_request(&mut conn, &m.licensor.organization_id, &private_request)
            .unwrap()
            .is_some()
    );
    assert!(
        find_visible_request(&mut conn, &m.third.organization_id, &private_request)
            .unwrap()
            .is_none()
    );
}

async fn the_sweeper_expires_offers_and_requests(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut body = offer_body(
        "Short-lived",
        &m.pop_slice,
        terms(&m.pop_slice),
        json!("public"),
    );
    body["expires_at"] = json!(soon);
    let offer = m.offer(&body).await["id"].as_str().unwrap().to_string();
    let lasting = m
        .offer(&offer_body(
            "Lasting",
            &m.pop_slice,
            terms(&m.pop_slice),
            json!("public"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let request = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "Short", "selector": {}, "territories": ["CN"], "usages": ["download"],
                    "start_date": "2027-01-01", "end_date": "2027-12-31", "currency": "CNY",
                    "visibility": "public", "expires_at": soon}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut both = vec![offer.clone(), lasting.clone()];
    both.sort();
    let mut listed = ids(&m.browse(&m.licensee, "").await);
    listed.sort();
    assert_eq!(listed, both);

    // Before the expiry a sweep changes nothing.
    let db = app.db(1);
    let swept = cadenza::sweeper::sweep_once(&db).await.unwrap();
    assert_eq!((swept.listings.offers, swept.listings.requests), (0, 0));

    tokio::time::sleep(std::time::Duration::from_millis(5_300)).await;
    // Past the expiry, reads hide it even before the sweeper runs…
    assert_eq!(ids(&m.browse(&m.licensee, "").await), vec![lasting.clone()]);
    // …and the sweep records it as expired.
    let swept = cadenza::sweeper::sweep_once(&db).await.unwrap();
    assert_eq!((swept.listings.offers, swept.listings.requests), (1, 1));
    let again = cadenza::sweeper::sweep_once(&db).await.unwrap();
    assert_eq!(
        (again.listings.offers, again.listings.requests),
        (0, 0),
        "a sweep is idempotent"
    );
    let own = app
        .get(
            &format!("/api/v1/offers/{offer}"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(own.assert_status(200)["status"], "expired");
    let problem = app
        .post(
            &format!("/api/v1/offers/{offer}/withdraw"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(problem.assert_problem(409)["allowed_actions"], json!([]));
    app.get(
        &format!("/api/v1/offers/{offer}"),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_problem(404);
    let own_request = app
        .get(
            &format!("/api/v1/requests/{request}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(own_request.assert_status(200)["status"], "expired");
    app.get(
        &format!("/api/v1/requests/{request}"),
        Some(&m.licensor.access_token),
    )
    .await
    .assert_problem(404);
}

async fn the_organization_directory_pages_and_searches(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    app.get("/api/v1/organizations", None)
        .await
        .assert_problem(401);
    let all = app
        .get("/api/v1/organizations?limit=2", Some(&m.third.access_token))
        .await;
    let all = all.assert_status(200).clone();
    let names: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["NetEase Cloud Music", "Tencent Music"]);
    assert_eq!(all["items"][0]["kind"], "platform");
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/organizations?limit=2&cursor={cursor}"),
            Some(&m.third.access_token),
        )
        .await;
    let rest = rest.assert_status(200);
    assert_eq!(rest["items"][0]["name"], "Third Platform");
    assert_eq!(rest["next_cursor"], Value::Null);
    let found = app
        .get(
            "/api/v1/organizations?q=tencent",
            Some(&m.third.access_token),
        )
        .await;
    let found = found.assert_status(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], m.licensor.organization_id.as_str());
    let none = app
        .get("/api/v1/organizations?q=%25", Some(&m.third.access_token))
        .await;
    assert_eq!(
        none.assert_status(200)["items"],
        json!([]),
        "`%` is a literal, not a wildcard"
    );
}

async fn the_openapi_document_lists_the_marketplace(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get("/api/openapi.json", None).await;
    let paths = &doc.assert_status(200)["paths"];
    for (path, method) in [
        ("/api/v1/offers", "get"),
        ("/api/v1/offers", "post"),
        ("/api/v1/offers/{id}", "get"),
        ("/api/v1/offers/{id}/publish", "post"),
        ("/api/v1/offers/{id}/withdraw", "post"),
        ("/api/v1/offers/{id}/matches", "get"),
        ("/api/v1/requests", "get"),
        ("/api/v1/requests", "post"),
        ("/api/v1/requests/{id}", "get"),
        ("/api/v1/requests/{id}/withdraw", "post"),
        ("/api/v1/requests/{id}/matches", "get"),
        ("/api/v1/marketplace/tracks/{isrc}", "get"),
        ("/api/v1/organizations", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}

/// A retried creation with the same `Idempotency-Key` answers the first result and
/// creates nothing more; the same key on another body is refused.
async fn creating_listings_is_idempotent(backend: Backend) {
    let m = market(backend).await;
    let app = &m.app;
    let post = |path: &str, token: &str, key: &str, body: &Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
    };
    let offer = offer_body(
        "Pop for HK",
        &m.pop_slice,
        terms(&m.pop_slice),
        json!("public"),
    );
    let token = &m.licensor.access_token;
    let first = TestApp::reply(
        post("/api/v1/offers", token, "offer-1", &offer)
            .await
            .unwrap(),
    )
    .await;
    let retry = TestApp::reply(
        post("/api/v1/offers", token, "offer-1", &offer)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(retry.assert_status(201), first.assert_status(201));
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    let mut other = offer.clone();
    other["title"] = json!("Another title");
    TestApp::reply(
        post("/api/v1/offers", token, "offer-1", &other)
            .await
            .unwrap(),
    )
    .await
    .assert_problem(422);
    let mine = m.browse(&m.licensor, "?mine=true").await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");

    let request = json!({"title": "Pop for HK", "selector": {"genres": ["Pop"]}, "territories": ["HK"],
        "usages": ["interactive_streaming"], "start_date": "2027-06-01", "end_date": "2028-12-31",
        "budget": "1500000.00", "currency": "CNY", "visibility": "public", "expires_at": "2030-01-01T00:00:00Z"});
    let token = &m.licensee.access_token;
    let first = TestApp::reply(
        post("/api/v1/requests", token, "request-1", &request)
            .await
            .unwrap(),
    )
    .await;
    let retry = TestApp::reply(
        post("/api/v1/requests", token, "request-1", &request)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        retry.assert_status(201)["id"],
        first.assert_status(201)["id"]
    );
    let mine = app.get("/api/v1/requests?mine=true", Some(token)).await;
    assert_eq!(
        mine.assert_status(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
}

on_both_backends!(
    creating_listings_is_idempotent,
    the_openapi_document_lists_the_marketplace,
    offers_cannot_ask_for_rights_the_catalog_does_not_hold,
    drafts_publish_withdraw_and_the_offer_view,
    browsing_filters_sorts_pages_and_counts_facets,
    who_offers_a_recording,
    requests_match_offers_both_ways_and_announce_them,
    targeted_listings_never_reach_a_third_organization,
    the_sweeper_expires_offers_and_requests,
    the_organization_directory_pages_and_searches,
);
