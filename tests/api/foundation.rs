//! The service skeleton: probes, metrics, OpenAPI, and problem+json for every
//! kind of bad request.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn health_and_ready(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/health", None).await;
    assert_eq!(health.assert_status(200)["status"], "ok");
    assert!(
        health.headers.contains_key("x-request-id"),
        "every response carries its request id"
    );
    let ready = app.get("/ready", None).await;
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready.assert_status(200)["database"], expected);
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/health", None).await.assert_status(200);
    app.get("/no/such/route", None).await.assert_problem(404);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"cadenza_http_requests_total{endpoint="/health",method="GET",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("cadenza_http_requests_duration_seconds_bucket"),
        "latency histogram exported"
    );
    assert!(
        metrics.contains(r#"status="404""#),
        "unmatched routes are counted too"
    );
}

async fn openapi_document_lists_the_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get("/api/openapi.json", None).await;
    let doc = doc.assert_status(200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/health",
        "/ready",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/members/{id}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn framework_errors_are_problem_documents(backend: Backend) {
    let app = spawn_app(backend).await;

    // Unknown route and wrong method.
    app.get("/api/v1/nowhere", None).await.assert_problem(404);
    let wrong_method = app
        .request(Method::DELETE, "/api/v1/auth/login", None, None)
        .await;
    wrong_method.assert_problem(405);

    // Malformed JSON: 400, and nothing was created.
    let malformed = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"organization": {"name": "#)
        .send()
        .await
        .unwrap();
    crate::helpers::TestApp::reply(malformed)
        .await
        .assert_problem(400);

    // Wrong content type: 415.
    let form = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a&password=b")
        .send()
        .await
        .unwrap();
    crate::helpers::TestApp::reply(form)
        .await
        .assert_problem(415);

    // Oversized body: 413 (the test server allows 256 KiB).
    let huge = json!({"email": "x".repeat(300 * 1024), "password": "y"});
    app.post("/api/v1/auth/login", None, &huge)
        .await
        .assert_problem(413);

    // A missing field and a wrongly typed field name the field.
    let missing = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"organization": {"name": "A", "kind": "platform"}}),
        )
        .await;
    missing.assert_problem(422);
    assert_eq!(missing.error_fields(), vec!["user"]);
    let wrong_type = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"organization": {"name": 42, "kind": "platform"}, "user": {"email": "a@b.co", "password": "x", "name": "n"}}),
        )
        .await;
    wrong_type.assert_problem(422);
    assert_eq!(wrong_type.error_fields(), vec!["organization.name"]);

    // A bad query string and a bad cursor.
    let owner = app.register("Acme", "owner@acme.test").await;
    app.get("/api/v1/members?limit=abc", Some(&owner.access_token))
        .await
        .assert_problem(400);
    app.get("/api/v1/members?limit=0", Some(&owner.access_token))
        .await
        .assert_problem(400);
    app.get("/api/v1/members?cursor=***", Some(&owner.access_token))
        .await
        .assert_problem(400);
}

on_both_backends!(
    health_and_ready,
    metrics_count_requests_by_route_and_status,
    openapi_document_lists_the_endpoints,
    framework_errors_are_problem_documents,
);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The README's promise: `cadenza serve` with no configuration but a data
/// directory serves `/health` and `/ready` from a SQLite file it creates.
#[actix_web::test]
async fn the_binary_serves_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cadenza"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("CADENZA_DATA_DIR")
        .env_remove("CADENZA_ENV")
        .env_remove("CADENZA_JWT_SECRET")
        .env("CADENZA_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cadenza starts");
    let client = reqwest::Client::new();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
        {
            ready = Some(r.status().as_u16());
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ready, Some(200));
    assert!(
        dir.path().join("data/cadenza.db").exists(),
        "SQLite file under ./data"
    );
    assert!(
        dir.path().join("data/jwt-secret").exists(),
        "development secret generated and kept"
    );
}

#[test]
fn production_without_a_jwt_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cadenza"))
        .arg("serve")
        .env("CADENZA_DATA_DIR", dir.path())
        .env("CADENZA_ENV", "production")
        .env_remove("CADENZA_JWT_SECRET")
        .env("CADENZA_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CADENZA_JWT_SECRET is not set"), "{stderr}");
}

#[test]
fn an_unknown_database_scheme_is_an_error_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cadenza"))
        .arg("migrate")
        .current_dir(dir.path())
        .env("DATABASE_URL", "mysql://localhost/cadenza")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported DATABASE_URL"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}
