//! Negotiation, signing and transfers, on both backends.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Reply, Session, TestApp};
use crate::on_both_backends;

/// Two platforms: a licensor with a generated catalog and a slice, a licensee.
pub(crate) struct Market {
    pub(crate) app: TestApp,
    pub(crate) licensor: Session,
    pub(crate) licensor_signer: Session,
    pub(crate) licensee: Session,
    pub(crate) licensee_signer: Session,
    pub(crate) catalog_id: String,
    pub(crate) slice_id: String,
    pub(crate) slice_tracks: i64,
}

pub(crate) async fn upload(app: &TestApp, token: &str, catalog: &str, tracks: u64) {
    let mut csv = Vec::new();
    cadenza::import::generate::generate_catalog(
        &mut csv,
        tracks,
        9,
        cadenza::import::ImportFormat::Csv,
    )
    .unwrap();
    let response = app
        .client
        .post(app.url(&format!("/api/v1/catalogs/{catalog}/imports")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await.assert_status(200);
}

async fn slice(app: &TestApp, token: &str, catalog: &str, labels: &[&str]) -> (String, i64) {
    let reply = app
        .post(&format!("/api/v1/catalogs/{catalog}/slices"), Some(token), &json!({"name": format!("labels {}", labels.join("+")), "selector": {"labels": labels}}))
        .await;
    let body = reply.assert_status(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["track_count"].as_i64().unwrap(),
    )
}

pub(crate) async fn market(backend: Backend, sublicensable: bool) -> Market {
    market_on(
        spawn_app(backend).await,
        sublicensable,
        &["CN", "HK", "TW", "MO"],
    )
    .await
}

/// [`market`] on a server the caller started (with its own settings), the licensor's
/// catalog holding `territories`.
pub(crate) async fn market_on(app: TestApp, sublicensable: bool, territories: &[&str]) -> Market {
    let licensor = app.register("Tencent Music", "owner@tme.test").await;
    let licensor_signer = app.add_member(&licensor, "signer@tme.test", "signer").await;
    let licensee = app
        .register("NetEase Cloud Music", "owner@netease.test")
        .await;
    let licensee_signer = app
        .add_member(&licensee, "signer@netease.test", "signer")
        .await;
    let catalog = app
        .post(
            "/api/v1/catalogs",
            Some(&licensor.access_token),
            &json!({"name": "TME catalog", "territories": territories, "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": sublicensable}),
        )
        .await;
    let catalog_id = catalog.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    upload(&app, &licensor.access_token, &catalog_id, 5_000).await;
    let (slice_id, slice_tracks) = slice(
        &app,
        &licensor.access_token,
        &catalog_id,
        &["Label 0001", "Label 0002"],
    )
    .await;
    Market {
        app,
        licensor,
        licensor_signer,
        licensee,
        licensee_signer,
        catalog_id,
        slice_id,
        slice_tracks,
    }
}

pub(crate) fn terms(slice_id: &str) -> Value {
    json!({
        "slice_id": slice_id,
        "territories": ["CN"],
        "usages": ["interactive_streaming", "non_interactive_streaming"],
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "exclusive": false,
        "sublicensable": false,
        "currency": "CNY",
        "upfront_fee": "1000000.00",
        "minimum_guarantee": "5000000.00",
        "per_stream_rate": "0.0045",
        "revenue_share_percent": null,
        "installments": [{"due_date": "2027-01-15", "amount": "3000000.00"}, {"due_date": "2027-07-15", "amount": "3000000.00"}],
        "clauses": "Standard CN streaming sublicence.",
        // Fixed, so two calls give the same terms (a moving clock would change the hash).
        "respond_by": "2030-06-30T00:00:00Z"
    })
}

impl Market {
    pub(crate) async fn open(&self, terms: &Value) -> Value {
        let reply = self
            .app
            .post(
                "/api/v1/deals",
                Some(&self.licensee.access_token),
                &json!({"counterparty_id": self.licensor.organization_id, "role": "licensee", "terms": terms}),
            )
            .await;
        reply.assert_status(201).clone()
    }

    pub(crate) async fn act(&self, token: &str, deal: &Value, action: &str, body: Value) -> Reply {
        self.act_with(
            token,
            deal["id"].as_str().unwrap(),
            deal["version"].as_i64().unwrap(),
            action,
            body,
            None,
        )
        .await
    }

    async fn act_with(
        &self,
        token: &str,
        id: &str,
        version: i64,
        action: &str,
        body: Value,
        key: Option<&str>,
    ) -> Reply {
        let mut req = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/deals/{id}/{action}")))
            .bearer_auth(token)
            .header("if-match", format!("\"{version}\""))
            .json(&body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        TestApp::reply(req.send().await.unwrap()).await
    }

    /// `signer`'s signature on `deal`, committing to its terms hash.
    pub(crate) async fn sign(&self, signer: &Session, deal: &Value) -> Reply {
        let hash = deal["terms_hash"].as_str().unwrap().to_string();
        self.act(
            &signer.access_token,
            deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
    }

    /// Both signatures on an agreed deal: the executed deal.
    pub(crate) async fn executed(&self, agreed: Value) -> Value {
        let mut deal = agreed;
        for signer in [&self.licensee_signer, &self.licensor_signer] {
            deal = self.sign(signer, &deal).await.assert_status(200).clone();
        }
        assert_eq!(deal["state"], "executed");
        deal
    }

    /// Open, submit, accept: an agreed deal on `terms`.
    pub(crate) async fn agreed(&self, terms: &Value) -> Value {
        let deal = self.open(terms).await;
        let deal = self
            .act(&self.licensee.access_token, &deal, "submit", json!({}))
            .await
            .assert_status(200)
            .clone();
        self.act(&self.licensor.access_token, &deal, "accept", json!({}))
            .await
            .assert_status(200)
            .clone()
    }
}

fn actions(deal: &Value) -> Vec<String> {
    deal["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

async fn a_deal_is_negotiated_signed_and_executed(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let deal = m.open(&terms(&m.slice_id)).await;
    assert_eq!(deal["state"], "draft");
    assert_eq!(deal["your_party"], "licensee");
    assert_eq!(deal["revision"], 1);
    assert_eq!(deal["terms"]["upfront_fee"], "1000000.00");
    assert!(deal["advice"]["conflicting_grants"]
        .as_array()
        .unwrap()
        .is_empty());
    let id = deal["id"].as_str().unwrap().to_string();
    // A draft is the opener's alone.
    app.get(
        &format!("/api/v1/deals/{id}"),
        Some(&m.licensor.access_token),
    )
    .await
    .assert_problem(404);

    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (deal["state"].as_str(), deal["turn"].as_str()),
        (Some("negotiating"), Some("licensor"))
    );
    let seen = app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    let seen_body = seen.assert_status(200).clone();
    assert_eq!(
        seen.headers.get("etag").unwrap().to_str().unwrap(),
        format!("\"{}\"", seen_body["version"])
    );
    assert_eq!(
        actions(&seen_body),
        vec!["accept", "counter", "reject", "withdraw"]
    );

    // The licensor raises the fee; the licensee counters on the schedule; the licensor accepts.
    let mut t2 = terms(&m.slice_id);
    t2["upfront_fee"] = json!("2000000.00");
    t2["installments"] = json!([{"due_date": "2027-01-15", "amount": "4000000.00"}, {"due_date": "2027-07-15", "amount": "3000000.00"}]);
    let deal = m
        .act(
            &m.licensor.access_token,
            &seen_body,
            "counter",
            json!({"terms": t2}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (deal["revision"].as_i64(), deal["turn"].as_str()),
        (Some(2), Some("licensee"))
    );
    let changed: Vec<&str> = deal["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(changed, vec!["upfront_fee", "installments"]);

    let mut t3 = t2.clone();
    t3["installments"] = json!([{"due_date": "2027-01-15", "amount": "3500000.00"}, {"due_date": "2027-07-15", "amount": "3500000.00"}]);
    let deal = m
        .act(
            &m.licensee.access_token,
            &deal,
            "counter",
            json!({"terms": t3}),
        )
        .await
        .assert_status(200)
        .clone();
    let deal = m
        .act(&m.licensor.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (deal["state"].as_str(), deal["agreed_revision"].as_i64()),
        (Some("agreed"), Some(3))
    );
    let hash = deal["terms_hash"].as_str().unwrap().to_string();

    // Every revision and the diff between any two, for both sides.
    for token in [&m.licensor.access_token, &m.licensee.access_token] {
        let revisions = app
            .get(&format!("/api/v1/deals/{id}/revisions"), Some(token))
            .await;
        let revisions = revisions.assert_status(200).as_array().unwrap().clone();
        assert_eq!(revisions.len(), 3);
        assert_eq!(revisions[2]["terms_hash"], hash);
        let diff = app
            .get(&format!("/api/v1/deals/{id}/diff?from=1&to=3"), Some(token))
            .await;
        let fields: Vec<String> = diff.assert_status(200)["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, vec!["upfront_fee", "installments"]);
    }

    // Signing: a negotiator may not; a signer signs the agreed hash; the second signature executes.
    m.act(
        &m.licensee.access_token,
        &deal,
        "sign",
        json!({"terms_hash": "0".repeat(64)}),
    )
    .await
    .assert_problem(409);
    let negotiator = app
        .add_member(&m.licensee, "neg@netease.test", "negotiator")
        .await;
    m.act(
        &negotiator.access_token,
        &deal,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await
    .assert_problem(403);
    let deal = m
        .act(
            &m.licensee_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(deal["state"], "agreed");
    assert_eq!(deal["signatures"].as_array().unwrap().len(), 1);
    m.act(
        &m.licensee_signer.access_token,
        &deal,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await
    .assert_problem(409);
    let deal = m
        .act(
            &m.licensor_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(deal["state"], "executed");
    let grant_id = deal["grant_id"].as_str().unwrap().to_string();

    // The transfers: the grant with its frozen tracks, and the schedule.
    for token in [&m.licensor.access_token, &m.licensee.access_token] {
        let grant = app
            .get(&format!("/api/v1/grants/{grant_id}"), Some(token))
            .await;
        let grant = grant.assert_status(200);
        assert_eq!(grant["track_count"], m.slice_tracks);
        assert_eq!(grant["terms_hash"], hash);
        assert_eq!(grant["territories"], json!(["CN"]));
        let schedule = app
            .get(&format!("/api/v1/deals/{id}/installments"), Some(token))
            .await;
        let schedule = schedule.assert_status(200);
        assert_eq!(schedule["total"], "7000000.00");
        assert_eq!(schedule["balance"], "7000000.00");
        assert_eq!(schedule["installments"].as_array().unwrap().len(), 2);
    }
    let slice = app
        .get(
            &format!("/api/v1/slices/{}", m.slice_id),
            Some(&m.licensor.access_token),
        )
        .await;
    assert!(
        slice.assert_status(200)["frozen_at"].is_string(),
        "a slice used in a signed deal is frozen"
    );
    let tracks = app
        .get(
            &format!("/api/v1/grants/{grant_id}/tracks?limit=3"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        tracks.assert_status(200)["items"].as_array().unwrap().len(),
        3
    );
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/grants/{grant_id}/tracks.csv")))
        .bearer_auth(&m.licensee.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status().as_u16(), 200);
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv.lines().count() as i64,
        m.slice_tracks + 1,
        "header plus one line per granted track"
    );

    // The timeline has every step; the parties were notified.
    let events = app
        .get(
            &format!("/api/v1/deals/{id}/events?limit=100"),
            Some(&m.licensor.access_token),
        )
        .await;
    let kinds: Vec<String> = events.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "opened",
            "submitted",
            "countered",
            "countered",
            "accepted",
            "signed",
            "signed",
            "executed"
        ]
    );
    let feed = app
        .get("/api/v1/notifications", Some(&m.licensor.access_token))
        .await;
    let feed_kinds: Vec<String> = feed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in [
        "deal_submitted",
        "deal_countered",
        "deal_signed",
        "deal_executed",
    ] {
        assert!(
            feed_kinds.iter().any(|k| k == kind),
            "licensor feed lacks {kind}: {feed_kinds:?}"
        );
    }

    // A third organization sees none of it.
    let outsider = app.register("Spotify", "owner@spotify.test").await;
    for path in [
        format!("/api/v1/deals/{id}"),
        format!("/api/v1/deals/{id}/revisions"),
        format!("/api/v1/deals/{id}/diff"),
        format!("/api/v1/deals/{id}/events"),
        format!("/api/v1/deals/{id}/installments"),
        format!("/api/v1/grants/{grant_id}"),
        format!("/api/v1/grants/{grant_id}/tracks"),
        format!("/api/v1/grants/{grant_id}/tracks.csv"),
    ] {
        app.get(&path, Some(&outsider.access_token))
            .await
            .assert_problem(404);
    }
    let list = app.get("/api/v1/deals", Some(&outsider.access_token)).await;
    assert!(list.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let grants = app
        .get("/api/v1/grants", Some(&outsider.access_token))
        .await;
    assert!(grants.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    m.act_with(
        &outsider.access_token,
        &id,
        deal["version"].as_i64().unwrap(),
        "terminate",
        json!({"reason": "x", "effective_date": "2028-01-01"}),
        None,
    )
    .await
    .assert_problem(404);
}

async fn refusals_name_the_state_and_change_nothing(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let original = terms(&m.slice_id);
    let deal = m.open(&original).await;
    let id = deal["id"].as_str().unwrap().to_string();

    // Not allowed from draft: 409 naming the state and what is allowed.
    let refused = m
        .act(&m.licensee.access_token, &deal, "accept", json!({}))
        .await;
    let body = refused.assert_problem(409);
    assert_eq!(body["state"], "draft");
    assert_eq!(body["allowed_actions"], json!(["submit", "withdraw"]));
    assert!(body["detail"].as_str().unwrap().contains("`draft`"));

    // Missing or stale versions.
    let no_if_match = app
        .request(
            Method::POST,
            &format!("/api/v1/deals/{id}/submit"),
            Some(&m.licensee.access_token),
            Some(&json!({})),
        )
        .await;
    no_if_match.assert_problem(428);
    m.act_with(&m.licensee.access_token, &id, 99, "submit", json!({}), None)
        .await
        .assert_problem(412);

    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    // Not the licensee's turn; a viewer may do nothing.
    let body = m
        .act(&m.licensee.access_token, &deal, "accept", json!({}))
        .await;
    assert_eq!(
        body.assert_problem(409)["reason"]["reason"],
        "not_your_turn"
    );
    let viewer = app
        .add_member(&m.licensor, "viewer@tme.test", "viewer")
        .await;
    m.act(&viewer.access_token, &deal, "accept", json!({}))
        .await
        .assert_problem(403);

    // A counter must change something, and its terms are validated field by field.
    let same = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": original}),
        )
        .await;
    assert_eq!(
        same.assert_problem(422).clone()["errors"][0]["field"],
        "terms"
    );
    let mut bad = terms(&m.slice_id);
    bad["territories"] = json!(["CN", "US"]);
    bad["installments"] = json!([{"due_date": "2027-01-15", "amount": "1.00"}]);
    bad["end_date"] = json!("2026-01-01");
    let bad = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": bad}),
        )
        .await;
    bad.assert_problem(422);
    let fields = bad.error_fields();
    for field in ["terms.territories[1]", "terms.end_date"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
    assert!(
        fields.iter().any(|f| f.starts_with("terms.installments")),
        "{fields:?}"
    );
    let mut not_mine = terms(&m.slice_id);
    not_mine["slice_id"] = json!("00000000-0000-7000-8000-000000000000");
    let not_mine = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": not_mine}),
        )
        .await;
    assert_eq!(
        not_mine.assert_problem(422).clone()["errors"][0]["field"],
        "terms.slice_id"
    );
    m.act(&m.licensor.access_token, &deal, "reject", json!({}))
        .await
        .assert_problem(422);

    // Nothing above changed the deal.
    let now = app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    let now = now.assert_status(200);
    assert_eq!(
        (
            now["version"].clone(),
            now["revision"].clone(),
            now["state"].clone()
        ),
        (deal["version"].clone(), json!(1), json!("negotiating"))
    );

    // Reject with a reason ends it; terminal states accept nothing.
    let rejected = m
        .act(
            &m.licensor.access_token,
            &deal,
            "reject",
            json!({"reason": "price too low"}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(rejected["state"], "rejected");
    assert!(actions(&rejected).is_empty());
    let body = m
        .act(&m.licensee.access_token, &rejected, "withdraw", json!({}))
        .await;
    assert_eq!(body.assert_problem(409)["allowed_actions"], json!([]));
}

async fn retries_and_races(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let deal = m.open(&terms(&m.slice_id)).await;
    let id = deal["id"].as_str().unwrap().to_string();
    let v = deal["version"].as_i64().unwrap();

    // The same Idempotency-Key: the first response again, no second effect.
    let first = m
        .act_with(
            &m.licensee.access_token,
            &id,
            v,
            "submit",
            json!({}),
            Some("submit-1"),
        )
        .await;
    let first_body = first.assert_status(200).clone();
    let retry = m
        .act_with(
            &m.licensee.access_token,
            &id,
            v,
            "submit",
            json!({}),
            Some("submit-1"),
        )
        .await;
    assert_eq!(retry.assert_status(200), &first_body);
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    let now = app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(now.assert_status(200)["version"], first_body["version"]);
    // The same key with another body is refused.
    m.act_with(
        &m.licensee.access_token,
        &id,
        v,
        "withdraw",
        json!({"reason": "x"}),
        Some("submit-1"),
    )
    .await
    .assert_problem(422);
    // Opening a deal twice with one key creates one deal.
    let body = json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": terms(&m.slice_id)});
    let mut etags = Vec::new();
    for _ in 0..2 {
        let reply = app
            .client
            .post(app.url("/api/v1/deals"))
            .bearer_auth(&m.licensee.access_token)
            .header("idempotency-key", "open-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let reply = TestApp::reply(reply).await;
        reply.assert_status(201);
        etags.push(reply.headers.get("etag").cloned());
    }
    // The replay carries the first answer's ETag, so a client can go on with If-Match.
    assert!(etags[0].is_some());
    assert_eq!(etags[0], etags[1]);
    let mine = app
        .get("/api/v1/deals?state=draft", Some(&m.licensee.access_token))
        .await;
    assert_eq!(
        mine.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );

    // Two counters race on the same version: exactly one wins, the other gets 412.
    let deal = first_body;
    let mut a = terms(&m.slice_id);
    a["upfront_fee"] = json!("1500000.00");
    a["installments"] = json!([{"due_date": "2027-01-15", "amount": "6500000.00"}]);
    let mut b = terms(&m.slice_id);
    b["clauses"] = json!("Counter B");
    let v = deal["version"].as_i64().unwrap();
    let (ra, rb) = futures_util::join!(
        m.act_with(
            &m.licensor.access_token,
            &id,
            v,
            "counter",
            json!({"terms": a}),
            None
        ),
        m.act_with(
            &m.licensor_signer.access_token,
            &id,
            v,
            "counter",
            json!({"terms": b}),
            None
        )
    );
    let mut statuses = vec![ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![200, 412], "{} / {}", ra.text, rb.text);
    let revisions = app
        .get(
            &format!("/api/v1/deals/{id}/revisions"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(revisions.assert_status(200).as_array().unwrap().len(), 2);
}

async fn conflicting_exclusive_deals_are_refused_with_a_report(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let mut exclusive = terms(&m.slice_id);
    exclusive["exclusive"] = json!(true);
    let first = m.agreed(&exclusive).await;
    let hash = first["terms_hash"].as_str().unwrap().to_string();
    let first = m
        .act(
            &m.licensee_signer.access_token,
            &first,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    let executed = m
        .act(
            &m.licensor_signer.access_token,
            &first,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();

    // A second licensee wants an overlapping slice, non-exclusively, in an overlapping window.
    let other = app.register("Kugou", "owner@kugou.test").await;
    let (overlap_slice, _) = slice(
        app,
        &m.licensor.access_token,
        &m.catalog_id,
        &["Label 0002", "Label 0003"],
    )
    .await;
    let mut second_terms = terms(&overlap_slice);
    second_terms["territories"] = json!(["CN", "HK"]);
    second_terms["start_date"] = json!("2029-06-01");
    second_terms["end_date"] = json!("2030-12-31");
    second_terms["installments"] = json!([{"due_date": "2029-06-15", "amount": "6000000.00"}]);
    let opened = app
        .post("/api/v1/deals", Some(&other.access_token), &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": second_terms}))
        .await;
    let opened = opened.assert_status(201).clone();
    // The advice already warns on opening.
    assert!(
        opened["advice"]["conflicting_track_count"]
            .as_u64()
            .unwrap()
            > 0,
        "{}",
        opened["advice"]
    );
    let submitted = m
        .act(&other.access_token, &opened, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let agreed = m
        .act(&m.licensor.access_token, &submitted, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let hash2 = agreed["terms_hash"].as_str().unwrap().to_string();
    let signed = m
        .act(
            &other.access_token,
            &agreed,
            "sign",
            json!({"terms_hash": hash2}),
        )
        .await
        .assert_status(200)
        .clone();
    let refused = m
        .act(
            &m.licensor_signer.access_token,
            &signed,
            "sign",
            json!({"terms_hash": hash2}),
        )
        .await;
    let body = refused.assert_problem(409).clone();
    let report = &body["conflict_report"];
    let label2 = app
        .get(
            &format!(
                "/api/v1/catalogs/{}/tracks?label=Label%200002&limit=500",
                m.catalog_id
            ),
            Some(&m.licensor.access_token),
        )
        .await;
    let label2_count = label2.assert_status(200)["items"].as_array().unwrap().len() as u64;
    assert_eq!(
        report["conflicting_track_count"].as_u64().unwrap(),
        label2_count,
        "{report}"
    );
    assert!(!report["sample_isrcs"].as_array().unwrap().is_empty());
    let grant = &report["conflicting_grants"][0];
    assert_eq!(grant["grant_id"], executed["grant_id"]);
    assert_eq!(grant["territories"], json!(["CN"]));
    assert_eq!(
        grant["period"],
        json!({"start": "2029-06-01", "end": "2029-12-31"})
    );
    // Nothing was written: still agreed, one signature, no grant.
    let after = app
        .get(
            &format!("/api/v1/deals/{}", signed["id"].as_str().unwrap()),
            Some(&other.access_token),
        )
        .await;
    let after = after.assert_status(200);
    assert_eq!(after["state"], "agreed");
    assert_eq!(after["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(after["version"], signed["version"]);

    // Availability: the exclusive grant's tracks are not available for CN in 2028, but are in HK.
    let cn = app
        .get(&format!("/api/v1/catalogs/{}/availability?territories=CN&usages=interactive_streaming&start_date=2028-01-01&end_date=2028-12-31", m.catalog_id), Some(&m.licensor.access_token))
        .await;
    let cn = cn.assert_status(200).clone();
    let hk = app
        .get(&format!("/api/v1/catalogs/{}/availability?territories=HK&usages=interactive_streaming&start_date=2028-01-01&end_date=2028-12-31&exclusive=true", m.catalog_id), Some(&m.licensor.access_token))
        .await;
    let hk = hk.assert_status(200).clone();
    assert_eq!(hk["available_count"], hk["catalog_track_count"]);
    assert_eq!(
        cn["available_count"].as_i64().unwrap(),
        cn["catalog_track_count"].as_i64().unwrap() - m.slice_tracks
    );
    app.get(&format!("/api/v1/catalogs/{}/availability?territories=CN&usages=interactive_streaming&start_date=2028-01-01&end_date=2028-12-31", m.catalog_id), Some(&other.access_token))
        .await
        .assert_problem(404);
}

async fn a_catalog_that_may_not_be_sublicensed_never_executes(backend: Backend) {
    let m = market(backend, false).await;
    let deal = m.agreed(&terms(&m.slice_id)).await;
    let hash = deal["terms_hash"].as_str().unwrap().to_string();
    let deal = m
        .act(
            &m.licensee_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    let refused = m
        .act(
            &m.licensor_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await;
    let body = refused.assert_problem(409);
    assert_eq!(
        body["conflict_report"]["holding_gaps"][0]["dimension"],
        "not_sublicensable"
    );
}

async fn payments_termination_and_the_sweeper(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let today = Utc::now().date_naive();
    let mut t = terms(&m.slice_id);
    // Starts now so termination can take effect; one installment already past due.
    t["start_date"] = json!((today - Duration::days(30)).to_string());
    t["end_date"] = json!((today + Duration::days(700)).to_string());
    t["installments"] = json!([
        {"due_date": (today - Duration::days(3)).to_string(), "amount": "3000000.00"},
        {"due_date": (today + Duration::days(400)).to_string(), "amount": "3000000.00"}
    ]);
    let deal = m.agreed(&t).await;
    let hash = deal["terms_hash"].as_str().unwrap().to_string();
    let deal = m
        .act(
            &m.licensee_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    let deal = m
        .act(
            &m.licensor_signer.access_token,
            &deal,
            "sign",
            json!({"terms_hash": hash}),
        )
        .await
        .assert_status(200)
        .clone();
    let id = deal["id"].as_str().unwrap().to_string();
    let schedule = app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensee.access_token),
        )
        .await;
    let schedule = schedule.assert_status(200).clone();
    let first = schedule["installments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = schedule["installments"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(schedule["installments"][0]["status"], "overdue");
    assert_eq!(schedule["installments"][1]["status"], "scheduled");

    // The sweeper announces the overdue installment once.
    let db = cadenza::db::Db::connect(
        &cadenza::db::DatabaseTarget::parse(&app.database_url).unwrap(),
        2,
    )
    .unwrap();
    let swept = cadenza::sweeper::sweep_once(&db).await.unwrap();
    assert_eq!(swept.deals.installments_updated, 1);
    assert_eq!(
        cadenza::sweeper::sweep_once(&db)
            .await
            .unwrap()
            .deals
            .installments_updated,
        0
    );
    let feed = app
        .get("/api/v1/notifications", Some(&m.licensee.access_token))
        .await;
    assert!(feed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["kind"] == "installment_overdue"));

    // Payments: the licensor records receipt; partial, then the rest; no overpayment.
    let pay = |amount: &str| json!({"amount": amount, "paid_on": today.to_string(), "reference": "WIRE-1"});
    app.post(
        &format!("/api/v1/installments/{first}/payments"),
        Some(&m.licensee.access_token),
        &pay("1.00"),
    )
    .await
    .assert_problem(403);
    // With an Idempotency-Key, a retried payment is recorded once.
    let keyed = || {
        app.client
            .post(app.url(&format!("/api/v1/installments/{first}/payments")))
            .bearer_auth(&m.licensor.access_token)
            .header("idempotency-key", "wire-1")
    };
    let partial = TestApp::reply(keyed().json(&pay("1000000.00")).send().await.unwrap()).await;
    assert_eq!(partial.assert_status(201)["paid"], "1000000.00");
    let retry = TestApp::reply(keyed().json(&pay("1000000.00")).send().await.unwrap()).await;
    assert_eq!(retry.assert_status(201), &partial.body);
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    let other = TestApp::reply(keyed().json(&pay("5.00")).send().await.unwrap()).await;
    other.assert_problem(422);
    let over = app
        .post(
            &format!("/api/v1/installments/{first}/payments"),
            Some(&m.licensor.access_token),
            &pay("2000000.01"),
        )
        .await;
    assert_eq!(
        over.assert_problem(422).clone()["errors"][0]["field"],
        "amount"
    );
    app.post(
        &format!("/api/v1/installments/{first}/payments"),
        Some(&m.licensor.access_token),
        &pay("1.001"),
    )
    .await
    .assert_problem(422);
    let paid = app
        .post(
            &format!("/api/v1/installments/{first}/payments"),
            Some(&m.licensor.access_token),
            &pay("2000000.00"),
        )
        .await;
    assert_eq!(paid.assert_status(201)["status"], "paid");
    let outsider = app.register("Spotify", "owner@spotify.test").await;
    app.post(
        &format!("/api/v1/installments/{first}/payments"),
        Some(&outsider.access_token),
        &pay("1.00"),
    )
    .await
    .assert_problem(404);

    // Termination: the grant ends the day before the effective date; the unpaid future
    // installment is cancelled; the tracks are free after it.
    let effective = today + Duration::days(60);
    let terminated = m
        .act(
            &m.licensor_signer.access_token,
            &deal,
            "terminate",
            json!({"reason": "breach: late payment", "effective_date": effective.to_string()}),
        )
        .await;
    let terminated = terminated.assert_status(200).clone();
    assert_eq!(terminated["state"], "terminated");
    let grant = app
        .get(
            &format!("/api/v1/grants/{}", deal["grant_id"].as_str().unwrap()),
            Some(&m.licensee.access_token),
        )
        .await;
    let grant = grant.assert_status(200);
    assert_eq!(grant["status"], "terminated");
    assert_eq!(
        grant["end_date"],
        (effective - Duration::days(1)).to_string()
    );
    let schedule = app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensor.access_token),
        )
        .await;
    let schedule = schedule.assert_status(200);
    let statuses: Vec<&str> = schedule["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["paid", "cancelled"]);
    assert_eq!(schedule["balance"], "0.00");
    app.post(
        &format!("/api/v1/installments/{second}/payments"),
        Some(&m.licensor.access_token),
        &pay("1.00"),
    )
    .await
    .assert_problem(409);
}

async fn deals_expire_when_respond_by_passes(backend: Backend) {
    let m = market(backend, true).await;
    let mut t = terms(&m.slice_id);
    t["respond_by"] = json!((Utc::now() + Duration::seconds(5)).to_rfc3339());
    let deal = m.open(&t).await;
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    // A second deal with the same deadline, answered after it but before any sweep.
    let late = m.open(&t).await;
    let late = m
        .act(&m.licensee.access_token, &late, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let db = cadenza::db::Db::connect(
        &cadenza::db::DatabaseTarget::parse(&m.app.database_url).unwrap(),
        2,
    )
    .unwrap();
    let early = cadenza::sweeper::sweep_once(&db).await.unwrap();
    assert_eq!(
        (early.deals.warned, early.deals.expired),
        (2, 0),
        "warned a day ahead, not expired yet"
    );
    actix_web::rt::time::sleep(std::time::Duration::from_millis(5_500)).await;
    // The deadline counts at once, not at the next sweep: accepting is refused and the
    // deal is expired from then on.
    let refused = m
        .act(&m.licensor.access_token, &late, "accept", json!({}))
        .await;
    let problem = refused.assert_problem(409);
    assert_eq!(problem["state"], "expired");
    assert_eq!(problem["allowed_actions"], json!([]));
    let late_now = m
        .app
        .get(
            &format!("/api/v1/deals/{}", late["id"].as_str().unwrap()),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(late_now.assert_status(200)["state"], "expired");
    assert_eq!(
        cadenza::sweeper::sweep_once(&db)
            .await
            .unwrap()
            .deals
            .expired,
        1
    );
    let now = m
        .app
        .get(
            &format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(now.assert_status(200)["state"], "expired");
    m.act(&m.licensor.access_token, &deal, "accept", json!({}))
        .await
        .assert_problem(412);
}

/// 50 exclusive deals over the same recordings, in windows (territory × year)
/// where pairs collide, all signed at the same moment: whatever the
/// interleaving, no two executed grants overlap, and every refused deal really
/// collides with an executed one (so the executed set is as large as the rule
/// allows). Half the deals are cut from a second catalog of the licensor that
/// holds the same ISRCs (a label feed imported separately): rights are per
/// recording, so the catalogs share one exclusivity ledger.
async fn concurrent_signatures_never_grant_a_track_twice(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let feed = app
        .post(
            "/api/v1/catalogs",
            Some(&m.licensor.access_token),
            &json!({"name": "TME label feed", "territories": ["CN", "HK", "TW", "MO"], "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
                    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
        )
        .await;
    let feed_id = feed.assert_status(201)["id"].as_str().unwrap().to_string();
    upload(app, &m.licensor.access_token, &feed_id, 5_000).await;
    let (feed_slice, feed_tracks) = slice(
        app,
        &m.licensor.access_token,
        &feed_id,
        &["Label 0001", "Label 0002"],
    )
    .await;
    assert_eq!(feed_tracks, m.slice_tracks);
    let mut windows: Vec<(Vec<&str>, i32, i32)> = Vec::new();
    for territory in ["CN", "HK", "TW", "MO"] {
        for year in 2027..2033 {
            windows.push((vec![territory], year, year));
            windows.push((vec![territory], year, year));
        }
    }
    // Two wider deals straddling several windows.
    windows.push((vec!["CN", "HK"], 2027, 2028));
    windows.push((vec!["TW"], 2030, 2032));
    assert_eq!(windows.len(), 50);

    let mut agreed = Vec::new();
    for (i, (territories, from, to)) in windows.iter().enumerate() {
        let mut t = terms(if i % 2 == 0 { &m.slice_id } else { &feed_slice });
        t["territories"] = json!(territories);
        t["exclusive"] = json!(true);
        t["start_date"] = json!(format!("{from}-01-01"));
        t["end_date"] = json!(format!("{to}-12-31"));
        t["installments"] = json!([{"due_date": format!("{from}-01-15"), "amount": "6000000.00"}]);
        let deal = m.agreed(&t).await;
        let hash = deal["terms_hash"].as_str().unwrap().to_string();
        let deal = m
            .act(
                &m.licensee_signer.access_token,
                &deal,
                "sign",
                json!({"terms_hash": hash}),
            )
            .await
            .assert_status(200)
            .clone();
        agreed.push((deal, hash));
    }
    let results = futures_util::future::join_all(agreed.iter().map(|(deal, hash)| {
        m.act(
            &m.licensor_signer.access_token,
            deal,
            "sign",
            json!({"terms_hash": hash}),
        )
    }))
    .await;
    let executed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status.as_u16() == 200)
        .map(|(i, _)| i)
        .collect();
    for r in &results {
        assert!(
            matches!(r.status.as_u16(), 200 | 409),
            "only execution or a conflict report: {}",
            r.text
        );
    }
    let overlaps = |a: usize, b: usize| {
        let (ta, fa, la) = &windows[a];
        let (tb, fb, lb) = &windows[b];
        ta.iter().any(|t| tb.contains(t)) && fa <= lb && fb <= la
    };
    for (i, &a) in executed.iter().enumerate() {
        for &b in &executed[i + 1..] {
            assert!(
                !overlaps(a, b),
                "deals {a} and {b} were both executed over the same tracks, territory and days"
            );
        }
    }
    for refused in (0..windows.len()).filter(|i| !executed.contains(i)) {
        assert!(
            executed.iter().any(|&e| overlaps(refused, e)),
            "deal {refused} was refused without a conflicting grant"
        );
    }
    // At least 19 execute whatever the order: one of each duplicated (territory,
    // year) pair (24), unless a wide deal wins first and takes its windows (CN+HK
    // 2027–28 blocks 4 windows for 1, TW 2030–32 blocks 3 for 1: 24 − 4 − 3 + 2).
    assert!(executed.len() >= 19, "{} executed", executed.len());

    // The stored grants agree: audited pairwise through the domain's own rule.
    let grants = app
        .get("/api/v1/grants?limit=500", Some(&m.licensor.access_token))
        .await;
    let grants = grants.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(grants.len(), executed.len());
    use cadenza::domain::grant::{conflict, GrantScope};
    let tracks = cadenza::domain::recording::RecordingSet::from_range(0..m.slice_tracks as u64);
    let scopes: Vec<GrantScope> = grants
        .iter()
        .map(|g| GrantScope {
            tracks: std::sync::Arc::new(tracks.clone()),
            territories: serde_json::from_value(g["territories"].clone()).unwrap(),
            usages: serde_json::from_value(g["usages"].clone()).unwrap(),
            period: cadenza::domain::period::Period::new(
                g["start_date"].as_str().unwrap().parse().unwrap(),
                g["end_date"].as_str().unwrap().parse().unwrap(),
            )
            .unwrap(),
            exclusive: g["exclusive"].as_bool().unwrap(),
        })
        .collect();
    for (i, a) in scopes.iter().enumerate() {
        for b in &scopes[i + 1..] {
            assert!(
                conflict(a, b).is_none(),
                "two stored grants conflict: {a:?} / {b:?}"
            );
        }
    }
}

/// Deals open from the marketplace: from an offer (its terms by default) and from a
/// request; a targeted offer opens only for the organization it targets.
async fn deals_open_from_offers_and_requests(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let expires = (Utc::now() + Duration::days(10)).to_rfc3339();
    let offer = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": "CN streaming", "slice_id": m.slice_id, "terms": terms(&m.slice_id), "visibility": "public", "expires_at": expires, "publish": true}),
        )
        .await;
    let offer_id = offer.assert_status(201)["id"].as_str().unwrap().to_string();
    let from_offer = app
        .post(
            "/api/v1/deals",
            Some(&m.licensee.access_token),
            &json!({"offer_id": offer_id}),
        )
        .await;
    let from_offer = from_offer.assert_status(201).clone();
    assert_eq!(from_offer["offer_id"], offer_id.as_str());
    assert_eq!(from_offer["your_party"], "licensee");
    assert_eq!(
        from_offer["licensor"]["organization_id"],
        m.licensor.organization_id.as_str()
    );
    assert_eq!(
        from_offer["terms"]["upfront_fee"], "1000000.00",
        "the offer's terms by default"
    );
    // The licensor cannot answer its own offer.
    app.post(
        "/api/v1/deals",
        Some(&m.licensor.access_token),
        &json!({"offer_id": offer_id}),
    )
    .await
    .assert_problem(422);

    // A targeted offer opens only for its target.
    let outsider = app.register("Spotify", "owner@spotify.test").await;
    let targeted = app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": "For NetEase", "slice_id": m.slice_id, "terms": terms(&m.slice_id), "visibility": [m.licensee.organization_id], "expires_at": expires, "publish": true}),
        )
        .await;
    let targeted_id = targeted.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = app
        .post(
            "/api/v1/deals",
            Some(&outsider.access_token),
            &json!({"offer_id": targeted_id}),
        )
        .await;
    assert_eq!(
        refused.assert_problem(422).clone()["errors"][0]["field"],
        "offer_id"
    );
    app.post(
        "/api/v1/deals",
        Some(&m.licensee.access_token),
        &json!({"offer_id": targeted_id}),
    )
    .await
    .assert_status(201);

    // From a request: the licensee asks, the licensor answers with terms on its slice.
    let request = app
        .post(
            "/api/v1/requests",
            Some(&m.licensee.access_token),
            &json!({"title": "Need CN pop", "selector": {"genres": ["Pop"]}, "territories": ["CN"], "usages": ["interactive_streaming"],
                    "start_date": "2027-01-01", "end_date": "2029-12-31", "budget": "8000000.00", "currency": "CNY", "visibility": "public", "expires_at": expires}),
        )
        .await;
    let request_id = request.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = app
        .post(
            "/api/v1/deals",
            Some(&m.licensor.access_token),
            &json!({"request_id": request_id, "terms": terms(&m.slice_id)}),
        )
        .await;
    let answer = answer.assert_status(201).clone();
    assert_eq!(answer["request_id"], request_id.as_str());
    assert_eq!(answer["your_party"], "licensor");
    assert_eq!(
        answer["licensee"]["organization_id"],
        m.licensee.organization_id.as_str()
    );
    let no_terms = app
        .post(
            "/api/v1/deals",
            Some(&m.licensor.access_token),
            &json!({"request_id": request_id}),
        )
        .await;
    assert_eq!(
        no_terms.assert_problem(422).clone()["errors"][0]["field"],
        "terms"
    );

    // Once the answer executes, the request is closed: answered, off the marketplace.
    let deal = m
        .act(&m.licensor.access_token, &answer, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let deal = m
        .act(&m.licensee.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let hash = json!({"terms_hash": deal["terms_hash"]});
    let deal = m
        .act(&m.licensee.access_token, &deal, "sign", hash.clone())
        .await
        .assert_status(200)
        .clone();
    let request_path = format!("/api/v1/requests/{request_id}");
    let before = app.get(&request_path, Some(&m.licensee.access_token)).await;
    assert_eq!(before.assert_status(200)["status"], "open");
    let deal = m
        .act(&m.licensor.access_token, &deal, "sign", hash)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(deal["state"], "executed");
    let after = app.get(&request_path, Some(&m.licensee.access_token)).await;
    assert_eq!(after.assert_status(200)["status"], "closed");
}

/// A member who switched off counter mails still gets them for a deal they watch.
async fn watchers_get_mail_their_settings_would_mute(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let deal = m.open(&terms(&m.slice_id)).await;
    let id = deal["id"].as_str().unwrap().to_string();
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    app.request(
        Method::PUT,
        "/api/v1/me/notification-settings",
        Some(&m.licensee_signer.access_token),
        Some(&json!({"email": {"deal_countered": false}})),
    )
    .await
    .assert_status(200);
    let counters = |app: &TestApp| {
        app.outbox_contexts("signer@netease.test", "deal_countered")
            .len()
    };
    let mut t = terms(&m.slice_id);
    t["clauses"] = json!("First counter");
    let deal = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": t}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(counters(app), 0, "muted");
    app.request(
        Method::PUT,
        &format!("/api/v1/deals/{id}/watch"),
        Some(&m.licensee_signer.access_token),
        None,
    )
    .await
    .assert_status(204);
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
    let mut t = terms(&m.slice_id);
    t["clauses"] = json!("Second counter");
    m.act(
        &m.licensor.access_token,
        &deal,
        "counter",
        json!({"terms": t}),
    )
    .await
    .assert_status(200);
    // Both counters after watching: the colleague's and the licensor's.
    assert_eq!(counters(app), 2, "watching overrides the mute");
    let outsider = app.register("Spotify", "owner@spotify.test").await;
    app.request(
        Method::PUT,
        &format!("/api/v1/deals/{id}/watch"),
        Some(&outsider.access_token),
        None,
    )
    .await
    .assert_problem(404);
    app.request(
        Method::DELETE,
        &format!("/api/v1/deals/{id}/watch"),
        Some(&m.licensee_signer.access_token),
        None,
    )
    .await
    .assert_status(204);
}

on_both_backends!(
    watchers_get_mail_their_settings_would_mute,
    deals_open_from_offers_and_requests,
    concurrent_signatures_never_grant_a_track_twice,
    a_deal_is_negotiated_signed_and_executed,
    refusals_name_the_state_and_change_nothing,
    retries_and_races,
    conflicting_exclusive_deals_are_refused_with_a_report,
    a_catalog_that_may_not_be_sublicensed_never_executes,
    payments_termination_and_the_sweeper,
    deals_expire_when_respond_by_passes,
);
