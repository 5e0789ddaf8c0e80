//! The OpenAPI document against the routes, and the bugs schemathesis found
//! (`.ci/schemathesis.sh`), each pinned by a plain HTTP test so they stay fixed
//! even where the fuzzer would need luck to hit them again.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::on_both_backends;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, full path)` of every route declared in `src/api/*.rs` with an actix route
/// attribute, including those a `macro_rules!` stamps out (`#[post($path)]`, with the
/// path given at each invocation). Probes live at the root, the rest under `/api/v1`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/api") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source file");
        let prefix = if path.ends_with("health.rs") {
            ""
        } else {
            "/api/v1"
        };
        // Route macros used inside `macro_rules!`: NAME -> METHOD.
        let mut macros: Vec<(String, String)> = Vec::new();
        let mut current_macro: Option<String> = None;
        for line in source.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("macro_rules! ") {
                current_macro = Some(rest.trim_end_matches(" {").trim().to_string());
            }
            for method in METHODS {
                let Some(args) = line.strip_prefix(&format!("#[{method}(")) else {
                    continue;
                };
                if let Some(literal) = args.strip_prefix('"') {
                    let route = literal.split('"').next().unwrap_or_default();
                    routes.insert((method.to_uppercase(), format!("{prefix}{route}")));
                } else if let Some(name) = &current_macro {
                    macros.push((name.clone(), method.to_uppercase()));
                }
            }
        }
        // Each invocation `NAME!(ident, "/path", …)` declares one route.
        for (name, method) in macros {
            for invocation in source.split(&format!("{name}!(")).skip(1) {
                let route = invocation
                    .split('"')
                    .nth(1)
                    .filter(|r| r.starts_with('/'))
                    .unwrap_or_else(|| panic!("{name}! invocation without a path"));
                routes.insert((method.clone(), format!("{prefix}{route}")));
            }
        }
    }
    routes
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn document(app: &TestApp) -> Value {
    let reply = app.get("/api/openapi.json", None).await;
    assert!(reply.content_type().starts_with("application/json"));
    reply.assert_status(200).clone()
}

/// Every route the code declares is in the document, and every documented operation is
/// really routed (a request reaches a handler: no "no resource" 404, no 405).
async fn every_route_is_documented_and_every_operation_routed(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let documented = documented_operations(&doc);
    let declared = declared_routes();
    assert!(
        declared.len() > 60,
        "the source scan found too little: {declared:?}"
    );
    let missing: Vec<_> = declared.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );

    for (method, path) in &documented {
        let concrete = path.replace("{id}", "x").replace("{isrc}", "x");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let reply = app.request(method.clone(), &concrete, None, None).await;
        let unrouted = reply.status.as_u16() == 405
            || (reply.status.as_u16() == 404
                && reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("no resource at")));
        assert!(
            !unrouted,
            "{method} {path} is documented but not routed: {}",
            reply.text
        );
    }
}

/// The answers every operation shares are documented on every operation, as
/// problem+json (schemathesis' first run: 115 undocumented statuses).
async fn every_operation_documents_its_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let responses = op["responses"].as_object().expect("responses");
            let at = format!("{method} {path}");
            let mut expected = Vec::new();
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expected.push("401");
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "415", "422"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            if path.starts_with("/api/v1/") {
                expected.extend(["500", "503"]);
            }
            for status in expected {
                assert!(
                    responses.contains_key(status),
                    "{at} does not document {status}"
                );
            }
            for (status, response) in responses {
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{at} {status} does not declare x-request-id"
                );
                if status.starts_with('2') {
                    continue;
                }
                let types: Vec<_> = response["content"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(
                    types,
                    vec!["application/problem+json".to_string()],
                    "{at} {status}"
                );
            }
        }
    }
    let unauthenticated = &doc["paths"]["/api/v1/deals"]["get"]["responses"]["401"];
    assert!(
        unauthenticated["headers"]["WWW-Authenticate"].is_object(),
        "{unauthenticated}"
    );
    let throttled = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"];
    assert!(
        throttled["headers"]["Retry-After"].is_object(),
        "{throttled}"
    );
    let submitted = &doc["paths"]["/api/v1/deals/{id}/submit"]["post"]["responses"]["200"];
    assert!(submitted["headers"]["ETag"].is_object(), "{submitted}");
}

/// RFC 9110: a 405 names the methods the resource accepts (schemathesis'
/// unsupported_method check; none had `Allow`).
async fn method_not_allowed_lists_the_allowed_methods(backend: Backend) {
    let app = spawn_app(backend).await;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/auth/login", "POST"),
        (Method::GET, "/api/v1/deals/x/watch", "PUT, DELETE"),
        (Method::TRACE, "/api/v1/deals", "GET, POST"),
        (Method::PUT, "/health", "GET"),
        // Answered by the metrics middleware, not a route: still a 405, not a 404.
        (Method::POST, "/metrics", "GET"),
    ] {
        let reply = app.request(method.clone(), path, None, None).await;
        reply.assert_problem(405);
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    // An unknown path is still a 404, without `Allow`.
    let reply = app.get("/api/v1/nothing-here", None).await;
    reply.assert_problem(404);
    assert!(reply.headers.get("allow").is_none());
}

/// `If-Match` and `Idempotency-Key` accept exactly what their documented patterns say:
/// a lenient parse took `"3` and `W/3` as version 3, and trimmed keys.
async fn version_and_idempotency_headers_are_parsed_as_documented(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Harbor Music", "owner@harbor.test").await;
    let send = |if_match: &'static str, key: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/deals/0195b2e1-7a8b-7c9d-8e0f-2a3b4c5d6e04/submit"))
            .bearer_auth(&owner.access_token)
            .header("if-match", if_match)
            .header("content-type", "application/json")
            .body("{}");
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        async move { TestApp::reply(req.send().await.expect("sent")).await }
    };
    for bad in ["\"3", "3\"", "W/3", "-3", "\"\"", "3.0", "1234567890"] {
        let reply = send(bad, None).await;
        reply.assert_problem(400);
        assert_eq!(
            reply.error_fields(),
            vec!["If-Match"],
            "{bad}: {}",
            reply.text
        );
    }
    // Well-formed versions reach the deal lookup (none exists: 404).
    for good in ["\"3\"", "W/\"3\"", "3"] {
        send(good, None).await.assert_problem(404);
    }
    let reply = send("\"3\"", Some("two words")).await;
    reply.assert_problem(400);
    assert_eq!(
        reply.error_fields(),
        vec!["Idempotency-Key"],
        "{}",
        reply.text
    );
    send("\"3\"", Some("7f1c-retry-1"))
        .await
        .assert_problem(404);
}

on_both_backends!(
    every_route_is_documented_and_every_operation_routed,
    every_operation_documents_its_errors,
    method_not_allowed_lists_the_allowed_methods,
    version_and_idempotency_headers_are_parsed_as_documented,
);
