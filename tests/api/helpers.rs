//! The black-box test harness: every test starts the real server (the same
//! `Application::build` as `cadenza serve`) on a random port against a fresh
//! database of its own, on SQLite and on PostgreSQL.
//!
//! PostgreSQL: each test creates a database `cadenza_test_<uuid>` through
//! `CADENZA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and drops it afterwards. `CADENZA_TEST_BACKENDS=sqlite` opts out of PostgreSQL
//! explicitly (for a laptop without it): `build.rs` then compiles every PostgreSQL variant
//! as ignored, so it is reported as skipped, never as passed. CI never sets it.

use cadenza::app::Application;
use cadenza::config::{
    DatabaseSettings, Environment, LogFormat, MailSettings, ServeSettings, SmtpTls, WebhookSettings,
};
use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one test per backend for each async fn `name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[actix_web::test]
                #[cfg_attr(
                    postgres_tests_skipped,
                    ignore = "CADENZA_TEST_BACKENDS=sqlite: the PostgreSQL variant is skipped"
                )]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

fn postgres_admin_url() -> String {
    std::env::var("CADENZA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{database}?{q}"),
        None => format!("{prefix}/{database}"),
    }
}

/// A PostgreSQL database that lives as long as the test.
pub struct TempPostgres {
    admin_url: String,
    name: String,
}

impl TempPostgres {
    fn create() -> (Self, String) {
        let admin_url = postgres_admin_url();
        let name = format!("cadenza_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url}: {e}. Start it (see README) or set \
                 CADENZA_TEST_POSTGRES_URL; CADENZA_TEST_BACKENDS=sqlite skips it deliberately."
            )
        });
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .expect("create test database");
        let url = with_database(&admin_url, &name);
        (Self { admin_url, name }, url)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub data_dir: std::path::PathBuf,
    _data_dir: tempfile::TempDir,
    _postgres: Option<TempPostgres>,
}

pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub fn test_settings(backend: Backend) -> (ServeSettings, tempfile::TempDir, Option<TempPostgres>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (postgres, database_url) = match backend {
        Backend::Sqlite => (
            None,
            format!("sqlite://{}", dir.path().join("cadenza.db").display()),
        ),
        Backend::Postgres => {
            let (pg, url) = TempPostgres::create();
            (Some(pg), url)
        }
    };
    let settings = ServeSettings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: DatabaseSettings {
            data_dir: dir.path().to_path_buf(),
            database_url: Some(database_url),
            db_pool_size: 8,
        },
        environment: Environment::Development,
        jwt_secret: Some(TEST_SECRET.to_string()),
        jwt_issuer: "cadenza".to_string(),
        access_token_ttl_secs: 900,
        refresh_token_ttl_secs: 3600,
        public_url: "http://cadenza.test".to_string(),
        max_json_bytes: 256 * 1024,
        workers: Some(1),
        trust_forwarded_for: false,
        log_format: LogFormat::Text,
        // Tests that check delivery turn the worker on (see tests/api/mail.rs); the rest
        // read the outbox table directly.
        mail_worker: false,
        // Tests sweep explicitly, at the moment they choose.
        sweep_interval_secs: 0,
        postings_cache_mib: 64,
        read_cache_mib: 64,
        market_rules_file: None,
        mail: test_mail_settings(),
        // Tests that check webhook delivery turn the worker on (tests/api/webhooks.rs).
        webhooks: WebhookSettings {
            webhooks_worker: false,
            ..WebhookSettings::default()
        },
    };
    (settings, dir, postgres)
}

/// Mail settings with timing shrunk so retry tests take a fraction of a second.
pub fn test_mail_settings() -> MailSettings {
    MailSettings {
        mail_from: "Cadenza <no-reply@cadenza.test>".to_string(),
        smtp_url: None,
        smtp_host: None,
        smtp_port: None,
        smtp_tls: SmtpTls::Starttls,
        smtp_username: None,
        smtp_password: None,
        smtp_timeout_secs: 5,
        mail_dir: None,
        mail_poll_interval_ms: 25,
        mail_batch_size: 20,
        mail_lease_ms: 30_000,
        mail_max_attempts: 50,
        mail_backoff_base_ms: 20,
        mail_backoff_max_ms: 200,
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the server with test settings adjusted by `adjust`.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut ServeSettings)) -> TestApp {
    let (mut settings, dir, postgres) = test_settings(backend);
    adjust(&mut settings);
    let database_url = settings.database.database_url.clone().unwrap_or_default();
    let app = Application::build(settings).expect("the application starts");
    let base = format!("http://{}", app.address());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: reqwest::Client::new(),
        database_url,
        data_dir: dir.path().to_path_buf(),
        _data_dir: dir,
        _postgres: postgres,
    }
}

/// Writes `rules` (TOML) as the market rules file of the server `settings` describe, in
/// its data directory, as an operator would with `CADENZA_MARKET_RULES`.
pub fn with_market_rules(settings: &mut ServeSettings, rules: &str) {
    let path = settings.database.data_dir.join("market-rules.toml");
    std::fs::write(&path, rules).expect("write the market rules file");
    settings.market_rules_file = Some(path);
}

/// A second server process ("node") on the same database as `app`, with its own
/// in-memory state (postings cache, throttles): what several `serve` nodes behind
/// a load balancer share is the database alone.
pub async fn spawn_second_node(app: &TestApp, backend: Backend) -> TestApp {
    let url = app.database_url.clone();
    spawn_app_with(backend, move |settings| {
        settings.database.database_url = Some(url);
    })
    .await
}

/// A response with its status, headers and parsed body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status, and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "expected problem+json, got {:?}: {}",
            self.content_type(),
            self.text
        );
        assert_eq!(self.body["status"], json!(status), "{}", self.text);
        assert!(
            self.body["type"].is_string()
                && self.body["title"].is_string()
                && self.body["detail"].is_string(),
            "{}",
            self.text
        );
        &self.body
    }

    /// The field names of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.body
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// Registers an organization and returns its owner's session.
    pub async fn register(&self, org: &str, email: &str) -> Session {
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                &json!({
                    "organization": {"name": org, "kind": "platform"},
                    "user": {"email": email, "password": PASSWORD, "name": format!("{org} owner")}
                }),
            )
            .await;
        let body = reply.assert_status(201);
        Session {
            access_token: body["access_token"]
                .as_str()
                .expect("access token")
                .to_string(),
            refresh_token: body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_string(),
            user_id: body["user"]["id"].as_str().expect("user id").to_string(),
            organization_id: body["organization"]["id"]
                .as_str()
                .expect("org id")
                .to_string(),
        }
    }

    /// Invites `email` with `role` into the owner's organization and accepts the
    /// invitation with the token taken from the queued mail.
    pub async fn add_member(&self, owner: &Session, email: &str, role: &str) -> Session {
        self.post(
            "/api/v1/invitations",
            Some(&owner.access_token),
            &json!({"email": email, "role": role}),
        )
        .await
        .assert_status(201);
        let token = self.latest_mail_token(email, "invitation");
        let body = self
            .post(
                "/api/v1/invitations/accept",
                None,
                &json!({"token": token, "name": format!("{role} member"), "password": PASSWORD}),
            )
            .await;
        let body = body.assert_status(201);
        Session {
            access_token: body["access_token"]
                .as_str()
                .expect("access token")
                .to_string(),
            refresh_token: body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_string(),
            user_id: body["user"]["id"].as_str().expect("user id").to_string(),
            organization_id: body["organization"]["id"]
                .as_str()
                .expect("org id")
                .to_string(),
        }
    }

    /// Reads the newest queued mail of `template` to `email` straight from the outbox
    /// table (the e-mail tests check real delivery; here we only need the token).
    pub fn latest_mail_token(&self, email: &str, template: &str) -> String {
        let context = self
            .outbox_contexts(email, template)
            .pop()
            .expect("a queued mail");
        context["token"]
            .as_str()
            .expect("token in mail")
            .to_string()
    }

    /// A direct connection to the test's database, as a server node would open it.
    pub fn connection(&self) -> cadenza::db::DbConnection {
        let target = cadenza::db::DatabaseTarget::parse(&self.database_url).expect("url");
        cadenza::db::ConnectionManager::new(target)
            .establish()
            .expect("connect")
    }

    /// A pooled handle on the test's database (for workers run by the test itself).
    pub fn db(&self, pool_size: u32) -> cadenza::db::Db {
        let target = cadenza::db::DatabaseTarget::parse(&self.database_url).expect("url");
        cadenza::db::Db::connect(&target, pool_size).expect("database")
    }

    pub fn outbox_contexts(&self, email: &str, template: &str) -> Vec<Value> {
        use cadenza::db::schema::mail_outbox::dsl;
        use diesel::prelude::*;
        let target = cadenza::db::DatabaseTarget::parse(&self.database_url).expect("url");
        let mut conn = cadenza::db::ConnectionManager::new(target)
            .establish()
            .expect("connect");
        let rows: Vec<String> = dsl::mail_outbox
            .filter(dsl::recipient_email.eq(email))
            .filter(dsl::template.eq(template))
            .order(dsl::id.asc())
            .select(dsl::context_json)
            .load(&mut conn)
            .expect("outbox rows");
        rows.iter()
            .map(|r| serde_json::from_str(r).expect("json context"))
            .collect()
    }
}

pub const PASSWORD: &str = "tangerine-orbit-42";

#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub organization_id: String,
}
