//! The per-node read caches (`api::read_cache`): two nodes on one database never
//! serve a stale marketplace or deal-room answer after a change made through the
//! other node (withdrawal, expiry, a counter, execution), and `/metrics` counts
//! hits and misses. The exclusivity check's kept answers never let a node
//! execute against a grant made through the other. On both backends.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{spawn_second_node, Backend, TestApp};
use crate::on_both_backends;

/// Every marketplace read of `offer_id` as organization `token` sees it on `node`.
struct Reads {
    browse: Value,
    offer: u16,
    tracks: u16,
    holders: Value,
}

async fn read_all(node: &TestApp, token: &str, offer_id: &str, isrc: &str) -> Reads {
    let browse = node
        .get("/api/v1/offers", Some(token))
        .await
        .assert_status(200)
        .clone();
    let offer = node
        .get(&format!("/api/v1/offers/{offer_id}"), Some(token))
        .await
        .status
        .as_u16();
    let tracks = node
        .get(
            &format!("/api/v1/offers/{offer_id}/tracks?limit=1000"),
            Some(token),
        )
        .await
        .status
        .as_u16();
    let holders = node
        .get(&format!("/api/v1/marketplace/tracks/{isrc}"), Some(token))
        .await
        .assert_status(200)
        .clone();
    Reads {
        browse,
        offer,
        tracks,
        holders,
    }
}

fn listed(page: &Value, offer_id: &str) -> bool {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .any(|o| o["id"] == offer_id)
}

async fn publish(m: &Market, expires_at: String) -> (String, String) {
    let offer = m
        .app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": "CN streaming", "slice_id": m.slice_id, "terms": terms(&m.slice_id),
                    "visibility": "public", "expires_at": expires_at, "publish": true}),
        )
        .await;
    let offer = offer.assert_status(201).clone();
    let isrc = offer["sample_tracks"][0]["isrc"]
        .as_str()
        .expect("an offer shows sample tracks")
        .to_string();
    (offer["id"].as_str().expect("an id").to_string(), isrc)
}

/// `cadenza_cache_lookups_total{cache="read_cache_<view>",result}` on `node`.
async fn lookups(node: &TestApp, view: &str, result: &str) -> u64 {
    let text = node.request(Method::GET, "/metrics", None, None).await.text;
    let prefix =
        format!("cadenza_cache_lookups_total{{cache=\"read_cache_{view}\",result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|n| n.trim().parse().expect("a counter value"))
        .unwrap_or(0)
}

/// Node B caches the licensee's marketplace reads; the licensor withdraws the offer
/// through node A; B's very next reads no longer show it. Then an offer that
/// expires by time (no sweep) leaves B's answers the moment its expiry passes.
async fn two_nodes_never_serve_a_withdrawn_or_expired_offer(backend: Backend) {
    let m = market(backend, true).await;
    let node_b = spawn_second_node(&m.app, backend).await;
    let buyer = &m.licensee.access_token;
    let (offer_id, isrc) = publish(&m, (Utc::now() + Duration::days(10)).to_rfc3339()).await;

    let hits_before = lookups(&node_b, "browse", "hit").await;
    for _ in 0..2 {
        let seen = read_all(&node_b, buyer, &offer_id, &isrc).await;
        assert!(listed(&seen.browse, &offer_id));
        assert_eq!(seen.browse["total"], 1);
        assert_eq!((seen.offer, seen.tracks), (200, 200));
        assert!(listed(&seen.holders, &offer_id));
    }
    assert!(
        lookups(&node_b, "browse", "hit").await > hits_before,
        "the second browse on node B is served from its cache"
    );
    assert!(lookups(&node_b, "offers_of_track", "hit").await >= 1);

    m.app
        .post(
            &format!("/api/v1/offers/{offer_id}/withdraw"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await
        .assert_status(200);
    let after = read_all(&node_b, buyer, &offer_id, &isrc).await;
    assert!(
        !listed(&after.browse, &offer_id),
        "withdrawn on A, still listed on B"
    );
    assert_eq!(after.browse["total"], 0);
    assert_eq!((after.offer, after.tracks), (404, 404));
    assert!(!listed(&after.holders, &offer_id));

    // Expiry is time, not a write: no version changes when it passes.
    let expires = Utc::now() + Duration::seconds(3);
    let (short_id, isrc) = publish(&m, expires.to_rfc3339()).await;
    let seen = read_all(&node_b, buyer, &short_id, &isrc).await;
    assert!(listed(&seen.browse, &short_id) && listed(&seen.holders, &short_id));
    let wait =
        (expires - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    let after = read_all(&node_b, buyer, &short_id, &isrc).await;
    assert!(
        !listed(&after.browse, &short_id),
        "expired, still listed on B"
    );
    assert_eq!((after.offer, after.tracks), (404, 404));
    assert!(!listed(&after.holders, &short_id));
}

/// The deal room read on node B follows every transition made through node A:
/// a counter, the agreement, both signatures (execution and its grant).
async fn two_nodes_never_serve_a_stale_deal_room(backend: Backend) {
    let m = market(backend, true).await;
    let node_b = spawn_second_node(&m.app, backend).await;
    let read_on_b = |deal: &Value, token: &str| {
        let path = format!("/api/v1/deals/{}", deal["id"].as_str().expect("an id"));
        let token = token.to_string();
        let node_b = &node_b;
        async move {
            let reply = node_b.get(&path, Some(&token)).await;
            let etag = reply.headers["etag"].to_str().expect("an etag").to_string();
            (reply.assert_status(200).clone(), etag)
        }
    };
    let deal = m.open(&terms(&m.slice_id)).await;
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    for _ in 0..2 {
        let (seen, etag) = read_on_b(&deal, &m.licensor.access_token).await;
        assert_eq!(seen["version"], deal["version"]);
        assert_eq!(etag, format!("\"{}\"", deal["version"]));
    }
    assert!(lookups(&node_b, "deal", "hit").await >= 1);

    let mut counter = terms(&m.slice_id);
    counter["clauses"] = json!("Countered: CN streaming, two years.");
    let countered = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": counter}),
        )
        .await
        .assert_status(200)
        .clone();
    let (seen, etag) = read_on_b(&deal, &m.licensor.access_token).await;
    assert_eq!(seen["revision"], 2);
    assert_eq!(
        seen["terms"]["clauses"],
        "Countered: CN streaming, two years."
    );
    assert_eq!(etag, format!("\"{}\"", countered["version"]));
    // The other party, whose allowed actions differ, reads its own answer.
    let (theirs, _) = read_on_b(&deal, &m.licensee.access_token).await;
    assert_eq!(theirs["your_party"], "licensee");
    assert_ne!(theirs["allowed_actions"], seen["allowed_actions"]);

    let agreed = m
        .act(&m.licensee.access_token, &countered, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let (seen, _) = read_on_b(&deal, &m.licensor.access_token).await;
    assert_eq!(seen["state"], "agreed");
    let executed = m.executed(agreed).await;
    let (seen, etag) = read_on_b(&deal, &m.licensor.access_token).await;
    assert_eq!(seen["state"], "executed");
    assert_eq!(seen["grant_id"], executed["grant_id"]);
    assert_eq!(seen["signatures"].as_array().map(Vec::len), Some(2));
    assert_eq!(etag, format!("\"{}\"", executed["version"]));
}

/// A deal action on `node`, at the deal's version.
async fn act_on(node: &TestApp, token: &str, deal: &Value, action: &str, body: Value) -> Value {
    let id = deal["id"].as_str().expect("an id");
    let reply = node
        .client
        .post(node.url(&format!("/api/v1/deals/{id}/{action}")))
        .bearer_auth(token)
        .header("if-match", format!("\"{}\"", deal["version"]))
        .json(&body)
        .send()
        .await
        .expect("the node answers");
    TestApp::reply(reply).await.assert_status(200).clone()
}

/// The exclusivity check keeps, per node, what a slice shares with the union of
/// the grants it met (`db::grant_recordings_cache`). A grant executed through
/// another node changes the grants met, so the first node's executing signature
/// never rests on what it kept at accept.
async fn two_nodes_never_execute_against_a_stale_exclusivity_check(backend: Backend) {
    let m = market(backend, true).await;
    let node_b = spawn_second_node(&m.app, backend).await;
    let mut exclusive = terms(&m.slice_id);
    exclusive["exclusive"] = json!(true);
    // Agreed on node A: its accept ran the check and kept the answer (no conflict).
    let first = m.agreed(&exclusive).await;
    assert_eq!(first["advice"]["conflicting_track_count"], 0, "{first}");

    // Another platform licenses the same tracks exclusively through node B.
    let rival = node_b.register("Kugou", "owner@kugou.test").await;
    let opened = node_b
        .post(
            "/api/v1/deals",
            Some(&rival.access_token),
            &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": exclusive}),
        )
        .await
        .assert_status(201)
        .clone();
    let submitted = act_on(&node_b, &rival.access_token, &opened, "submit", json!({})).await;
    let agreed = act_on(
        &node_b,
        &m.licensor.access_token,
        &submitted,
        "accept",
        json!({}),
    )
    .await;
    let hash = json!({"terms_hash": agreed["terms_hash"]});
    let signed = act_on(&node_b, &rival.access_token, &agreed, "sign", hash.clone()).await;
    let executed = act_on(&node_b, &m.licensor.access_token, &signed, "sign", hash).await;
    assert_eq!(executed["state"], "executed");

    // Node A's executing signature of the first deal meets that grant.
    let hash = json!({"terms_hash": first["terms_hash"]});
    let signed = m
        .act(
            &m.licensee_signer.access_token,
            &first,
            "sign",
            hash.clone(),
        )
        .await
        .assert_status(200)
        .clone();
    let refused = m
        .act(&m.licensor_signer.access_token, &signed, "sign", hash)
        .await;
    let problem = refused.assert_status(409);
    assert_eq!(
        problem["conflict_report"]["conflicting_track_count"].as_i64(),
        Some(m.slice_tracks),
        "{problem}"
    );
    assert_eq!(
        problem["conflict_report"]["conflicting_grants"][0]["grant_id"], executed["grant_id"],
        "{problem}"
    );
}

on_both_backends!(
    two_nodes_never_serve_a_withdrawn_or_expired_offer,
    two_nodes_never_serve_a_stale_deal_room,
    two_nodes_never_execute_against_a_stale_exclusivity_check,
);
