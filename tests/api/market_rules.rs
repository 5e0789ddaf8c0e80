//! Market rules per territory (`CADENZA_MARKET_RULES`): listed by `GET /market-rules`,
//! enforced on offers and on every deal step that proposes, accepts or signs terms,
//! with a 422 naming the rule. On both backends.

use serde_json::{json, Value};

use crate::deals::{market_on, terms, Market};
use crate::helpers::{
    spawn_app, spawn_app_with, test_settings, with_market_rules, Backend, Reply, Session, TestApp,
};
use crate::on_both_backends;

/// The two CN rules of docs/operations.md.
const CN_RULES: &str = r#"
[[rule]]
id = "cn-no-exclusive"
version = 1
territory = "CN"
kind = "no_exclusive"
effective_from = "2021-08-31"
description = "SAMR order of 2021-07-24: no exclusive music licences"

[[rule]]
id = "cn-prepayment-cap"
version = 1
territory = "CN"
kind = "prepayment_cap"
max_percent = "30"
effective_from = "2021-08-31"
"#;

/// SHA-256 of `[]`: the version of an empty ruleset.
const NO_RULES_VERSION: &str = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

/// A market whose licensor holds CN, HK and JP, on a server enforcing `rules`.
async fn market(backend: Backend, rules: Option<&str>) -> Market {
    let app = match rules {
        Some(rules) => spawn_app_with(backend, |s| with_market_rules(s, rules)).await,
        None => spawn_app(backend).await,
    };
    market_on(app, true, &["CN", "HK", "JP"]).await
}

/// Another node on the market's database, enforcing the CN rules: as if the operator
/// had added them and restarted.
async fn node_with_rules(m: &Market, backend: Backend) -> TestApp {
    let url = m.app.database_url.clone();
    spawn_app_with(backend, move |s| {
        s.database.database_url = Some(url);
        with_market_rules(s, CN_RULES);
    })
    .await
}

fn exclusive(slice_id: &str, territories: &[&str]) -> Value {
    let mut t = terms(slice_id);
    t["exclusive"] = json!(true);
    t["territories"] = json!(territories);
    t
}

/// The deal terms with this installment schedule (6,000,000.00 CNY scheduled, the
/// term starting 2027-01-01).
fn scheduled(slice_id: &str, installments: Value) -> Value {
    let mut t = terms(slice_id);
    t["installments"] = installments;
    t
}

fn offer_body(slice_id: &str, terms: Value) -> Value {
    json!({"title": "TME catalog, two labels", "slice_id": slice_id, "terms": terms,
           "visibility": "public", "expires_at": "2030-01-01T00:00:00Z"})
}

async fn open_on(app: &TestApp, m: &Market, terms: &Value) -> Reply {
    app.post(
        "/api/v1/deals",
        Some(&m.licensee.access_token),
        &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": terms}),
    )
    .await
}

/// A transition on a given node (`Market::act` always uses the market's own).
async fn act_on(app: &TestApp, who: &Session, deal: &Value, action: &str, body: Value) -> Reply {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/deals/{}/{action}",
            deal["id"].as_str().unwrap()
        )))
        .bearer_auth(&who.access_token)
        .header("if-match", format!("\"{}\"", deal["version"]))
        .json(&body)
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await
}

/// A 422 naming one rule on one field, in every place the API promises.
#[track_caller]
fn assert_refused_by(reply: &Reply, field: &str, rule: &str) {
    let body = reply.assert_problem(422);
    assert_eq!(body["type"], "/problems/validation", "{}", reply.text);
    assert_eq!(
        reply.error_fields(),
        vec![field.to_string()],
        "{}",
        reply.text
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("market rule {rule} v1 ")) && message.contains(" in CN "),
        "{message}"
    );
    assert_eq!(body["detail"], format!("`{field}`: {message}"));
    let listed = body["market_rules"].as_array().expect("market_rules");
    assert_eq!(listed.len(), 1, "{}", reply.text);
    assert_eq!(listed[0]["rule_id"], rule);
    assert_eq!(listed[0]["version"], 1);
    assert_eq!(listed[0]["territory"], "CN");
    assert_eq!(listed[0]["field"], field);
    assert_eq!(listed[0]["message"], message);
}

async fn deal_count(app: &TestApp, who: &Session) -> usize {
    app.get("/api/v1/deals", Some(&who.access_token))
        .await
        .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn own_offer_count(app: &TestApp, m: &Market) -> usize {
    app.get(
        &format!("/api/v1/offers?licensor={}", m.licensor.organization_id),
        Some(&m.licensee.access_token),
    )
    .await
    .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn event_count(app: &TestApp, who: &Session, deal_id: &str) -> usize {
    app.get(
        &format!("/api/v1/deals/{deal_id}/events?limit=500"),
        Some(&who.access_token),
    )
    .await
    .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn no_rules_change_nothing(backend: Backend) {
    let m = market(backend, None).await;
    let app = &m.app;
    let listed = app
        .get("/api/v1/market-rules", Some(&m.licensee.access_token))
        .await;
    assert_eq!(
        listed.assert_status(200),
        &json!({"version": NO_RULES_VERSION, "rules": []})
    );
    // Everything the CN rules would forbid goes through.
    let cn_exclusive = exclusive(&m.slice_id, &["CN"]);
    app.post(
        "/api/v1/offers",
        Some(&m.licensor.access_token),
        &offer_body(&m.slice_id, cn_exclusive.clone()),
    )
    .await
    .assert_status(201);
    let mut up_front = cn_exclusive;
    up_front["installments"] = json!([{"due_date": "2026-12-31", "amount": "6000000.00"}]);
    let deal = m.agreed(&up_front).await;
    let deal = m.executed(deal).await;
    assert!(deal["grant_id"].is_string());
}

async fn offers_are_checked_against_the_market_rules(backend: Backend) {
    let m = market(backend, Some(CN_RULES)).await;
    let app = &m.app;
    let (token, slice) = (m.licensor.access_token.clone(), m.slice_id.clone());
    let post = |terms: Value| {
        let body = offer_body(&slice, terms);
        let token = token.clone();
        async move { app.post("/api/v1/offers", Some(&token), &body).await }
    };
    // Exclusive in CN: refused, naming the rule; nothing listed.
    let reply = post(exclusive(&m.slice_id, &["CN"])).await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    assert_eq!(
        reply.body["errors"][0]["message"],
        "market rule cn-no-exclusive v1 forbids exclusive grants in CN from 2021-08-31"
    );
    // CN among other territories, or worldwide, is CN too.
    assert_refused_by(
        &post(exclusive(&m.slice_id, &["HK", "CN"])).await,
        "terms.exclusive",
        "cn-no-exclusive",
    );
    assert_eq!(own_offer_count(app, &m).await, 0);
    // A market rule is reported together with the request's other problems.
    let mut body = offer_body(&m.slice_id, exclusive(&m.slice_id, &["CN"]));
    body["title"] = json!("");
    let reply = app
        .post("/api/v1/offers", Some(&m.licensor.access_token), &body)
        .await;
    reply.assert_problem(422);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(fields, ["terms.exclusive", "title"], "{}", reply.text);
    assert_eq!(reply.body["market_rules"][0]["rule_id"], "cn-no-exclusive");
    // Too much due up front in CN.
    let reply = post(scheduled(
        &m.slice_id,
        json!([{"due_date": "2026-12-31", "amount": "3000000.00"}, {"due_date": "2027-07-15", "amount": "3000000.00"}]),
    ))
    .await;
    assert_refused_by(&reply, "terms.installments", "cn-prepayment-cap");
    assert_eq!(own_offer_count(app, &m).await, 0);

    // Non-exclusive in CN, and exclusive outside CN, are fine.
    post(terms(&m.slice_id)).await.assert_status(201);
    post(exclusive(&m.slice_id, &["JP"]))
        .await
        .assert_status(201);
    post(exclusive(&m.slice_id, &["HK", "JP"]))
        .await
        .assert_status(201);
    assert_eq!(own_offer_count(app, &m).await, 3);
}

async fn deals_are_checked_when_opened_and_countered(backend: Backend) {
    let m = market(backend, Some(CN_RULES)).await;
    let app = &m.app;
    // Opening an exclusive CN deal: refused, no draft written.
    let reply = open_on(app, &m, &exclusive(&m.slice_id, &["CN"])).await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    assert_eq!(deal_count(app, &m.licensee).await, 0);
    // Exclusive in JP opens.
    open_on(app, &m, &exclusive(&m.slice_id, &["JP"]))
        .await
        .assert_status(201);

    // A non-exclusive CN deal opens and is submitted; the licensor's counter to an
    // exclusive CN licence is refused and changes nothing.
    let deal = m.open(&terms(&m.slice_id)).await;
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let reply = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": exclusive(&m.slice_id, &["CN"])}),
        )
        .await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    let reply = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": scheduled(&m.slice_id, json!([{"due_date": "2027-01-01", "amount": "6000000.00"}]))}),
        )
        .await;
    assert_refused_by(&reply, "terms.installments", "cn-prepayment-cap");
    let id = deal["id"].as_str().unwrap();
    let now = app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (&now["version"], &now["revision"], &now["state"]),
        (&deal["version"], &json!(1), &json!("negotiating"))
    );
    // Exclusive in JP instead: a counter like any other; then accepted and executed.
    let deal = m
        .act(
            &m.licensor.access_token,
            &deal,
            "counter",
            json!({"terms": exclusive(&m.slice_id, &["JP"])}),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(deal["revision"], 2);
    let deal = m
        .act(&m.licensee.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let deal = m.executed(deal).await;
    assert!(deal["grant_id"].is_string());
}

async fn the_prepayment_cap_is_exact(backend: Backend) {
    let m = market(backend, Some(CN_RULES)).await;
    let app = &m.app;
    // 6,000,000.00 scheduled; 30 % is 1,800,000.00 due on or before 2027-01-01.
    let reply = open_on(
        app,
        &m,
        &scheduled(
            &m.slice_id,
            json!([{"due_date": "2026-12-31", "amount": "3000000.00"}, {"due_date": "2027-07-15", "amount": "3000000.00"}]),
        ),
    )
    .await;
    assert_refused_by(&reply, "terms.installments", "cn-prepayment-cap");
    assert_eq!(
        reply.body["errors"][0]["message"],
        "market rule cn-prepayment-cap v1 caps what falls due on or before the start date at 30% \
         of upfront fee + minimum guarantee in CN from 2021-08-31: 3000000.00 of 6000000.00 CNY \
         falls due by 2027-01-01 (50%)"
    );
    let reply = open_on(
        app,
        &m,
        &scheduled(
            &m.slice_id,
            json!([{"due_date": "2027-01-01", "amount": "1800000.01"}, {"due_date": "2027-07-15", "amount": "4199999.99"}]),
        ),
    )
    .await;
    assert_refused_by(&reply, "terms.installments", "cn-prepayment-cap");
    assert_eq!(deal_count(app, &m.licensee).await, 0);
    // Exactly 30 % on the start date passes; so does anything due after it.
    let at_cap = scheduled(
        &m.slice_id,
        json!([{"due_date": "2026-12-01", "amount": "1000000.00"}, {"due_date": "2027-01-01", "amount": "800000.00"}, {"due_date": "2027-07-15", "amount": "4200000.00"}]),
    );
    let deal = m.agreed(&at_cap).await;
    m.executed(deal).await;
    open_on(
        app,
        &m,
        &scheduled(
            &m.slice_id,
            json!([{"due_date": "2027-01-02", "amount": "6000000.00"}]),
        ),
    )
    .await
    .assert_status(201);
    // The same schedule in JP is nobody's business but the parties'.
    let mut jp = scheduled(
        &m.slice_id,
        json!([{"due_date": "2026-12-31", "amount": "6000000.00"}]),
    );
    jp["territories"] = json!(["JP"]);
    open_on(app, &m, &jp).await.assert_status(201);
}

/// The operator adds the CN rules after a deal was agreed (a node with the rules on
/// the same database): acceptance and signature are refused there, nothing written.
async fn a_rule_added_after_agreement_refuses_acceptance_and_signature(backend: Backend) {
    let m = market(backend, None).await;
    let old = &m.app;
    let cn_exclusive = exclusive(&m.slice_id, &["CN"]);
    // Agreed under no rules... (a draft offer too, and a published one)
    let draft_offer = {
        let mut body = offer_body(&m.slice_id, cn_exclusive.clone());
        body["publish"] = json!(false);
        old.post("/api/v1/offers", Some(&m.licensor.access_token), &body)
            .await
            .assert_status(201)
            .clone()
    };
    let published_offer = old
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &offer_body(&m.slice_id, cn_exclusive.clone()),
        )
        .await
        .assert_status(201)
        .clone();
    let deal = m.open(&cn_exclusive).await;
    let submitted = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();

    // ...then the rules are in force.
    let node = node_with_rules(&m, backend).await;
    let listed = node
        .get("/api/v1/market-rules", Some(&m.licensee.access_token))
        .await;
    assert_eq!(
        listed.assert_status(200)["rules"].as_array().unwrap().len(),
        2
    );

    // Accepting the exclusive CN revision is refused.
    let reply = act_on(&node, &m.licensor, &submitted, "accept", json!({})).await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    let agreed = m
        .act(&m.licensor.access_token, &submitted, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    let hash = agreed["terms_hash"].as_str().unwrap().to_string();

    // The first signature, on the node with the rules: refused, nothing written.
    let id = agreed["id"].as_str().unwrap().to_string();
    let events = || event_count(old, &m.licensee, &id);
    let events_before = events().await;
    let reply = act_on(
        &node,
        &m.licensee_signer,
        &agreed,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");

    // The second signature: the first lands where no rule applies, the second is refused.
    let signed_once = act_on(
        old,
        &m.licensee_signer,
        &agreed,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await
    .assert_status(200)
    .clone();
    let events_signed_once = events().await;
    assert!(events_signed_once > events_before);
    let reply = act_on(
        &node,
        &m.licensor_signer,
        &signed_once,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    let after = old
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(after["state"], "agreed");
    assert_eq!(after["version"], signed_once["version"]);
    assert_eq!(after["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(after["grant_id"], Value::Null);
    assert_eq!(events().await, events_signed_once);
    let grants = old
        .get("/api/v1/grants", Some(&m.licensor.access_token))
        .await
        .assert_status(200)
        .clone();
    assert_eq!(grants["items"], json!([]));
    // Only the rules stood in the way: the node without them executes it.
    let executed = act_on(
        old,
        &m.licensor_signer,
        &signed_once,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await
    .assert_status(200)
    .clone();
    assert_eq!(executed["state"], "executed");

    // The draft offer cannot be published any more; no deal opens from the published one.
    let reply = node
        .post(
            &format!(
                "/api/v1/offers/{}/publish",
                draft_offer["id"].as_str().unwrap()
            ),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
    let reply = node
        .post(
            "/api/v1/deals",
            Some(&m.licensee.access_token),
            &json!({"offer_id": published_offer["id"]}),
        )
        .await;
    assert_refused_by(&reply, "terms.exclusive", "cn-no-exclusive");
}

async fn market_rules_are_listed(backend: Backend) {
    let rules = format!(
        "{CN_RULES}\n[[rule]]\nid = \"hk-cap\"\nversion = 4\nterritory = \"hk\"\nkind = \"prepayment_cap\"\n\
         max_percent = \"12.50\"\neffective_from = 2024-01-01\neffective_until = 2026-12-31\n"
    );
    let app = spawn_app_with(backend, |s| with_market_rules(s, &rules)).await;
    let owner = app.register("Lantern Stream", "owner@lantern.test").await;
    let viewer = app
        .add_member(&owner, "viewer@lantern.test", "viewer")
        .await;
    let reply = app
        .get("/api/v1/market-rules", Some(&viewer.access_token))
        .await;
    let body = reply.assert_status(200);
    let version = body["version"].as_str().unwrap();
    assert_eq!(version.len(), 64);
    assert_ne!(version, NO_RULES_VERSION);
    assert_eq!(
        body["rules"],
        json!([
            {"id": "cn-no-exclusive", "version": 1, "territory": "CN", "kind": "no_exclusive",
             "parameters": {}, "effective_from": "2021-08-31", "effective_until": null,
             "description": "SAMR order of 2021-07-24: no exclusive music licences"},
            {"id": "cn-prepayment-cap", "version": 1, "territory": "CN", "kind": "prepayment_cap",
             "parameters": {"max_percent": "30"}, "effective_from": "2021-08-31",
             "effective_until": null, "description": null},
            {"id": "hk-cap", "version": 4, "territory": "HK", "kind": "prepayment_cap",
             "parameters": {"max_percent": "12.5"}, "effective_from": "2024-01-01",
             "effective_until": "2026-12-31", "description": null},
        ])
    );
    // A second node reading the same rules reports the same version.
    let url = app.database_url.clone();
    let node = spawn_app_with(backend, move |s| {
        s.database.database_url = Some(url);
        with_market_rules(s, &rules);
    })
    .await;
    let again = node
        .get("/api/v1/market-rules", Some(&owner.access_token))
        .await;
    assert_eq!(again.assert_status(200)["version"], version);
    // Signed-in members only.
    app.get("/api/v1/market-rules", None)
        .await
        .assert_problem(401);
}

async fn an_invalid_rules_file_stops_the_start(backend: Backend) {
    let (mut settings, _dir, _postgres) = test_settings(backend);
    with_market_rules(
        &mut settings,
        &CN_RULES.replace("max_percent = \"30\"", "max_percent = 30.0"),
    );
    let error = cadenza::app::Application::build(settings)
        .err()
        .expect("the start is refused")
        .to_string();
    assert!(error.contains("market-rules.toml"), "{error}");
    assert!(
        error.contains("rule 2 (`cn-prepayment-cap`), `max_percent`: must be a decimal string"),
        "{error}"
    );

    let (mut settings, dir, _postgres) = test_settings(backend);
    settings.market_rules_file = Some(dir.path().join("missing.toml"));
    let error = cadenza::app::Application::build(settings)
        .err()
        .expect("the start is refused")
        .to_string();
    assert!(
        error.starts_with("cannot read the market rules file") && error.contains("missing.toml"),
        "{error}"
    );
}

on_both_backends!(
    no_rules_change_nothing,
    offers_are_checked_against_the_market_rules,
    deals_are_checked_when_opened_and_countered,
    the_prepayment_cap_is_exact,
    a_rule_added_after_agreement_refuses_acceptance_and_signature,
    market_rules_are_listed,
    an_invalid_rules_file_stops_the_start,
);
