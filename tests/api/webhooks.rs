//! Webhooks against real HTTP receivers started by each test, on both backends:
//! signatures checked independently of Cadenza's code, an outage ridden out in order,
//! a hanging receiver that holds up no one else, two workers delivering each event
//! once, private addresses refused, endpoints disabled after failing too long.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use cadenza::config::{ServeSettings, WebhookSettings};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::deals::{market_on, terms};
use crate::helpers::{spawn_app_with, Backend, Session, TestApp};
use crate::on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    /// Answers 503, as a receiver that is down behind its load balancer.
    Fail,
    /// Never answers (until long after Cadenza's timeout).
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
    accepted: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A receiver on 127.0.0.1:<random port>, recording every request it gets.
#[derive(Clone)]
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let state = (log.clone(), mode.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind the receiver");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            log,
            mode,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Mode>>);

async fn receive(
    state: web::Data<ReceiverState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mode = *state.1.lock().expect("mode");
    state.0.lock().expect("log").push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body: body.to_vec(),
        accepted: mode == Mode::Accept,
    });
    match mode {
        Mode::Accept => HttpResponse::NoContent().finish(),
        Mode::Fail => HttpResponse::ServiceUnavailable().finish(),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            HttpResponse::NoContent().finish()
        }
    }
}

/// What a receiver does with the Standard Webhooks headers, written here from the
/// specification rather than with Cadenza's code: HMAC-SHA256 over `id.timestamp.body`
/// with the base64-decoded part of `whsec_…`, compared with each `v1,` signature.
fn signed_with(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.", received.id, received.timestamp).as_bytes());
    mac.update(&received.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}

fn fast_webhooks(settings: &mut ServeSettings, allow_private: bool) {
    settings.webhooks = WebhookSettings {
        webhooks_worker: true,
        webhooks_allow_private: allow_private,
        webhooks_timeout_ms: 1_500,
        webhooks_concurrency: 8,
        webhooks_poll_interval_ms: 20,
        webhooks_backoff_base_ms: 20,
        webhooks_backoff_max_ms: 200,
        webhooks_disable_after_secs: 86_400,
        webhooks_rotation_grace_secs: 3_600,
    };
}

async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create_endpoint(app: &TestApp, owner: &Session, url: &str, types: &[&str]) -> Value {
    app.post(
        "/api/v1/webhooks/endpoints",
        Some(&owner.access_token),
        &json!({"url": url, "description": "test receiver", "event_types": types}),
    )
    .await
    .assert_status(201)
    .clone()
}

async fn deliveries(app: &TestApp, owner: &Session, endpoint_id: &str) -> Vec<Value> {
    app.get(
        &format!("/api/v1/webhooks/endpoints/{endpoint_id}/deliveries?limit=500"),
        Some(&owner.access_token),
    )
    .await
    .assert_status(200)["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn signed_deliveries_in_order_through_an_outage(backend: Backend) {
    let app = spawn_app_with(backend, |s| fast_webhooks(s, true)).await;
    let m = market_on(app, false, &["CN"]).await;
    let app = &m.app;
    let receiver = Receiver::start(Mode::Accept).await;
    let created = create_endpoint(
        app,
        &m.licensor,
        &receiver.url,
        &["deal_submitted", "deal_countered", "deal_accepted"],
    )
    .await;
    let endpoint_id = created["id"].as_str().expect("id").to_string();
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["enabled"], json!(true));
    // The secret is shown once: never in reads.
    let read = app
        .get(
            &format!("/api/v1/webhooks/endpoints/{endpoint_id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert!(
        read.assert_status(200).get("secret").is_none(),
        "{}",
        read.text
    );

    // A submitted deal reaches the licensor's receiver, signed.
    let deal = m.open(&terms(&m.slice_id)).await;
    let mut deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let first = eventually("the first delivery", || {
        receiver.accepted().first().cloned()
    })
    .await;
    assert!(signed_with(&secret, &first), "{first:?}");
    let body = first.json();
    assert_eq!(body["type"], json!("deal_submitted"));
    assert_eq!(body["version"], json!(1));
    assert_eq!(body["organization_id"], json!(m.licensor.organization_id));
    assert_eq!(body["subject"], json!({"type": "deal", "id": deal["id"]}));
    assert_eq!(body["data"]["deal"]["id"], deal["id"]);
    assert_eq!(body["data"]["counterparty"], json!("NetEase Cloud Music"));
    assert_eq!(body["data"]["action_required"], json!(true));
    assert!(body["id"].as_str().expect("event id").starts_with("evt_"));
    assert!(first.id.starts_with("msg_"));

    // The receiver goes down; the deal goes on: four counters, then an acceptance.
    receiver.set(Mode::Fail);
    for turn in 0..4 {
        let who = if turn % 2 == 0 {
            &m.licensor
        } else {
            &m.licensee
        };
        let mut t = terms(&m.slice_id);
        t["clauses"] = json!(format!("Clauses, version {turn}."));
        deal = m
            .act(&who.access_token, &deal, "counter", json!({"terms": t}))
            .await
            .assert_status(200)
            .clone();
    }
    deal = m
        .act(&m.licensor.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200)
        .clone();
    assert_eq!(deal["state"], json!("agreed"));
    // It is tried, refused, and retried while down.
    eventually("failed attempts", || {
        (receiver.received().iter().filter(|r| !r.accepted).count() >= 3).then_some(())
    })
    .await;
    let log = deliveries(app, &m.licensor, &endpoint_id).await;
    let pending: Vec<&Value> = log.iter().filter(|d| d["status"] == "pending").collect();
    assert_eq!(pending.len(), 5, "{log:?}");
    let oldest = pending.last().expect("the oldest pending");
    assert!(oldest["attempts"].as_i64() >= Some(1), "{oldest}");
    assert_eq!(oldest["last_status_code"], json!(503), "{oldest}");

    // Back up: every event delivered, in order, none lost, duplicates only by webhook-id.
    receiver.set(Mode::Accept);
    let accepted = eventually("every delivery", || {
        let accepted = receiver.accepted();
        (accepted.len() >= 6).then_some(accepted)
    })
    .await;
    let types: Vec<String> = accepted
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types,
        [
            "deal_submitted",
            "deal_countered",
            "deal_countered",
            "deal_countered",
            "deal_countered",
            "deal_accepted"
        ]
    );
    // The counters arrive in the order they were made.
    let clauses: Vec<String> = accepted[1..5]
        .iter()
        .map(|r| {
            r.json()["data"]["changes"][0]["new"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        clauses,
        (0..4)
            .map(|t| format!("Clauses, version {t}."))
            .collect::<Vec<_>>()
    );
    for request in receiver.received() {
        assert!(signed_with(&secret, &request), "{request:?}");
        // Every attempt of one delivery carries the same id and the same body.
        let same_id: Vec<Received> = receiver
            .received()
            .into_iter()
            .filter(|r| r.id == request.id)
            .collect();
        assert!(same_id.iter().all(|r| r.body == request.body));
    }
    let mut ids: Vec<&str> = accepted.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no event accepted twice");
    let log = deliveries(app, &m.licensor, &endpoint_id).await;
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    assert!(log
        .iter()
        .all(|d| d["last_status_code"] == json!(204) && d["last_latency_ms"].is_i64()));

    // The test event, a redelivery (same webhook-id), a rotated secret (both signatures).
    let test = app
        .post(
            &format!("/api/v1/webhooks/endpoints/{endpoint_id}/test"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    let test_id = test.assert_status(202)["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_string();
    let test = eventually("the test event", || {
        receiver.accepted().into_iter().find(|r| r.id == test_id)
    })
    .await;
    assert_eq!(test.json()["type"], json!("webhook.test"));
    app.post(
        &format!("/api/v1/webhooks/deliveries/{}/redeliver", first.id),
        Some(&m.licensor.access_token),
        &json!({}),
    )
    .await
    .assert_status(202);
    eventually("the redelivery", || {
        (receiver
            .accepted()
            .iter()
            .filter(|r| r.id == first.id)
            .count()
            == 2)
            .then_some(())
    })
    .await;
    let rotated = app
        .post(
            &format!("/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    let new_secret = rotated.assert_status(200)["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_ne!(new_secret, secret);
    assert!(rotated.body["previous_secret_valid_until"].is_string());
    let test = app
        .post(
            &format!("/api/v1/webhooks/endpoints/{endpoint_id}/test"),
            Some(&m.licensor.access_token),
            &json!({}),
        )
        .await;
    let test_id = test.assert_status(202)["delivery_id"]
        .as_str()
        .expect("id")
        .to_string();
    let after_rotation = eventually("a delivery after rotation", || {
        receiver.accepted().into_iter().find(|r| r.id == test_id)
    })
    .await;
    assert!(signed_with(&new_secret, &after_rotation));
    assert!(signed_with(&secret, &after_rotation));
    assert_eq!(after_rotation.signature.split(' ').count(), 2);

    // Owners only; the other party cannot even see it.
    let signer = &m.licensor_signer;
    app.get("/api/v1/webhooks/endpoints", Some(&signer.access_token))
        .await
        .assert_problem(403);
    let other = &m.licensee;
    let path = format!("/api/v1/webhooks/endpoints/{endpoint_id}");
    for (method, path) in [
        (Method::GET, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::GET, format!("{path}/deliveries")),
        (Method::POST, format!("{path}/test")),
        (Method::POST, format!("{path}/rotate-secret")),
        (
            Method::POST,
            format!("/api/v1/webhooks/deliveries/{}/redeliver", first.id),
        ),
    ] {
        app.request(
            method.clone(),
            &path,
            Some(&other.access_token),
            Some(&json!({})),
        )
        .await
        .assert_problem(404);
    }
    let theirs = app
        .get("/api/v1/webhooks/endpoints", Some(&other.access_token))
        .await;
    assert_eq!(theirs.assert_status(200)["items"], json!([]));

    // Changes and deletion, audited.
    let patched = app
        .request(
            Method::PATCH,
            &path,
            Some(&m.licensor.access_token),
            Some(&json!({"event_types": ["deal_executed"], "enabled": false})),
        )
        .await;
    assert_eq!(
        patched.assert_status(200)["event_types"],
        json!(["deal_executed"])
    );
    app.request(Method::DELETE, &path, Some(&m.licensor.access_token), None)
        .await
        .assert_status(204);
    app.get(&path, Some(&m.licensor.access_token))
        .await
        .assert_problem(404);
}

/// With private addresses not allowed (the default), a loopback or private receiver is
/// refused at registration (422 on `url`), and again at delivery time for an endpoint
/// whose address became private after registration (as DNS can).
async fn private_addresses_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| fast_webhooks(s, false)).await;
    let owner = app.register("Careful Music", "owner@careful.test").await;
    let receiver = Receiver::start(Mode::Accept).await;
    for url in [
        receiver.url.as_str(),
        "http://localhost:9/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hooks",
        "http://hooks.example.com/plain-http",
        "https://no-such-host.invalid/hooks",
    ] {
        let reply = app
            .post(
                "/api/v1/webhooks/endpoints",
                Some(&owner.access_token),
                &json!({"url": url, "event_types": ["deal_submitted"]}),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), ["url"], "{url}: {}", reply.text);
    }
    let reply = app
        .post(
            "/api/v1/webhooks/endpoints",
            Some(&owner.access_token),
            &json!({"url": "https://93.184.216.34/hooks", "event_types": ["deal_submitted", "no_such_kind"]}),
        )
        .await;
    reply.assert_problem(422);
    assert_eq!(reply.error_fields(), ["event_types[1]"], "{}", reply.text);
    let viewer = app
        .add_member(&owner, "viewer@careful.test", "viewer")
        .await;
    app.post(
        "/api/v1/webhooks/endpoints",
        Some(&viewer.access_token),
        &json!({"url": "https://hooks.example.com/", "event_types": ["deal_submitted"]}),
    )
    .await
    .assert_problem(403);

    // An endpoint whose address is private by delivery time (written directly, as if its
    // name had been re-pointed): the worker refuses to connect.
    let endpoint_id = {
        use cadenza::db::webhooks::{insert_endpoint, Endpoint};
        let at = cadenza::db::now();
        let endpoint = Endpoint {
            id: cadenza::db::new_id(),
            organization_id: owner.organization_id.clone(),
            url: receiver.url.clone(),
            description: String::new(),
            event_types: "[\"deal_submitted\"]".into(),
            enabled: true,
            disabled_reason: None,
            secret: cadenza::webhooks::generate_secret(),
            previous_secret: None,
            previous_secret_until: None,
            next_attempt_at: at,
            claimed_until: None,
            consecutive_failures: 0,
            failing_since: None,
            created_at: at,
            updated_at: at,
        };
        insert_endpoint(&mut app.connection(), &endpoint).expect("insert");
        endpoint.id
    };
    app.post(
        &format!("/api/v1/webhooks/endpoints/{endpoint_id}/test"),
        Some(&owner.access_token),
        &json!({}),
    )
    .await
    .assert_status(202);
    let mut last_error = String::new();
    for _ in 0..400 {
        let log = deliveries(&app, &owner, &endpoint_id).await;
        if let Some(error) = log[0]["last_error"].as_str() {
            last_error = error.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(last_error.contains("private"), "{last_error}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

/// One receiver hangs; another endpoint's deliveries go out meanwhile, without waiting
/// for the hanging one's timeout.
async fn a_hanging_receiver_holds_up_no_one_else(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast_webhooks(s, true);
        s.webhooks.webhooks_timeout_ms = 20_000;
    })
    .await;
    let owner = app.register("Patient Music", "owner@patient.test").await;
    let hanging = Receiver::start(Mode::Hang).await;
    let healthy = Receiver::start(Mode::Accept).await;
    let slow = create_endpoint(&app, &owner, &hanging.url, &["deal_submitted"]).await;
    let fast = create_endpoint(&app, &owner, &healthy.url, &["deal_submitted"]).await;
    let test = |endpoint: &Value| {
        format!(
            "/api/v1/webhooks/endpoints/{}/test",
            endpoint["id"].as_str().unwrap_or("")
        )
    };
    app.post(&test(&slow), Some(&owner.access_token), &json!({}))
        .await
        .assert_status(202);
    eventually("the hanging request", || {
        (!hanging.received().is_empty()).then_some(())
    })
    .await;
    let started = Instant::now();
    for _ in 0..3 {
        app.post(&test(&fast), Some(&owner.access_token), &json!({}))
            .await
            .assert_status(202);
    }
    eventually("the healthy endpoint's deliveries", || {
        (healthy.accepted().len() == 3).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} while the other receiver hangs for 20 s",
        started.elapsed()
    );
    assert_eq!(hanging.received().len(), 1);
}

/// Two server nodes with their webhook workers on one database: each delivery is sent
/// once (the endpoint is claimed by one worker at a time).
async fn two_workers_deliver_each_event_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| fast_webhooks(s, true)).await;
    let url = app.database_url.clone();
    let second = spawn_app_with(backend, move |s| {
        fast_webhooks(s, true);
        s.database.database_url = Some(url);
    })
    .await;
    let owner = app.register("Busy Music", "owner@busy.test").await;
    let receivers = [
        Receiver::start(Mode::Accept).await,
        Receiver::start(Mode::Accept).await,
        Receiver::start(Mode::Accept).await,
    ];
    let mut endpoints = Vec::new();
    for receiver in &receivers {
        endpoints.push(create_endpoint(&app, &owner, &receiver.url, &["deal_submitted"]).await);
    }
    let mut sent = 0;
    for round in 0..10 {
        for endpoint in &endpoints {
            let node = if round % 2 == 0 { &app } else { &second };
            node.post(
                &format!(
                    "/api/v1/webhooks/endpoints/{}/test",
                    endpoint["id"].as_str().unwrap_or("")
                ),
                Some(&owner.access_token),
                &json!({}),
            )
            .await
            .assert_status(202);
            sent += 1;
        }
    }
    eventually("every delivery", || {
        (receivers.iter().map(|r| r.accepted().len()).sum::<usize>() >= sent).then_some(())
    })
    .await;
    // Let any duplicate in flight arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for receiver in &receivers {
        let ids: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), 10, "{ids:?}");
        assert_eq!(unique.len(), 10, "each delivery once: {ids:?}");
    }
}

/// An endpoint that fails without a success for the configured time is disabled and its
/// owners are mailed; enabled again, it delivers what waited, in order.
async fn a_failing_endpoint_is_disabled_and_owners_mailed(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast_webhooks(s, true);
        s.webhooks.webhooks_disable_after_secs = 1;
    })
    .await;
    let owner = app.register("Broken Music", "owner@broken.test").await;
    let receiver = Receiver::start(Mode::Fail).await;
    let endpoint = create_endpoint(&app, &owner, &receiver.url, &["deal_submitted"]).await;
    let id = endpoint["id"].as_str().expect("id").to_string();
    app.post(
        &format!("/api/v1/webhooks/endpoints/{id}/test"),
        Some(&owner.access_token),
        &json!({}),
    )
    .await
    .assert_status(202);
    let path = format!("/api/v1/webhooks/endpoints/{id}");
    let mut disabled = Value::Null;
    for _ in 0..400 {
        let read = app.get(&path, Some(&owner.access_token)).await;
        if read.body["enabled"] == json!(false) {
            disabled = read.body.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(disabled["enabled"], json!(false), "never disabled");
    assert!(disabled["disabled_reason"]
        .as_str()
        .is_some_and(|r| r.contains("503")));
    let mails = app.outbox_contexts("owner@broken.test", "webhook_disabled");
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["url"], json!(receiver.url));
    let attempts = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.received().len(),
        attempts,
        "no attempt once disabled"
    );

    receiver.set(Mode::Accept);
    app.request(
        Method::PATCH,
        &path,
        Some(&owner.access_token),
        Some(&json!({"enabled": true})),
    )
    .await
    .assert_status(200);
    eventually("the waiting delivery", || {
        (receiver.accepted().len() == 1).then_some(())
    })
    .await;
    let read = app.get(&path, Some(&owner.access_token)).await;
    assert_eq!(read.body["failing_since"], Value::Null);
}

on_both_backends!(
    signed_deliveries_in_order_through_an_outage,
    private_addresses_are_refused,
    a_hanging_receiver_holds_up_no_one_else,
    two_workers_deliver_each_event_once,
    a_failing_endpoint_is_disabled_and_owners_mailed,
);
