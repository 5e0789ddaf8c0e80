//! The webhook worker: claims endpoints that have due deliveries (one worker per endpoint
//! at a time, `FOR UPDATE SKIP LOCKED` on PostgreSQL), and for each claimed endpoint, in
//! its own task, sends the pending deliveries oldest first, signed, one at a time. A
//! failure stops that endpoint until its backoff ends (so deliveries stay in order); an
//! endpoint failing without a success for `disable_after` is disabled and its owners are
//! mailed. At most `concurrency` endpoints are served at once, each request bounded by
//! `timeout`, so a slow or hanging receiver holds one task, never the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::{watch, Semaphore};

use crate::config::WebhookSettings;
use crate::db::audit::AuditEvent;
use crate::db::outbox::{self, OutgoingMail};
use crate::db::webhooks::{self as storage, Attempt, Delivery, Endpoint};
use crate::db::{now, write_transaction, Db, DbError};
use crate::domain::webhook;

/// Deliveries sent per claim of an endpoint before it is released (others get a turn).
const PER_CLAIM: usize = 100;

/// The worker's limits and timing.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub timeout: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// How long a claimed endpoint is reserved for this worker (renewed per delivery).
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub disable_after: Duration,
    pub allow_private: bool,
}

impl WorkerConfig {
    pub fn from_settings(settings: &WebhookSettings) -> Self {
        let timeout = Duration::from_millis(settings.webhooks_timeout_ms.max(1));
        WorkerConfig {
            timeout,
            concurrency: settings.webhooks_concurrency.max(1) as usize,
            poll_interval: Duration::from_millis(settings.webhooks_poll_interval_ms.max(1)),
            lease: timeout * 3 + Duration::from_secs(30),
            backoff_base: Duration::from_millis(settings.webhooks_backoff_base_ms),
            backoff_max: Duration::from_millis(settings.webhooks_backoff_max_ms),
            disable_after: Duration::from_secs(settings.webhooks_disable_after_secs),
            allow_private: settings.webhooks_allow_private,
        }
    }
}

/// Resolves receiver hosts and refuses private addresses (unless allowed) after DNS
/// resolution, at connection time: a name that resolved to a public address at
/// registration and to `10.0.0.1` now is refused now.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = super::resolve_allowed(&host, 0, allow_private)
                .await
                .map_err(|message| -> Box<dyn std::error::Error + Send + Sync> {
                    message.into()
                })?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn add(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    at.checked_add_signed(to_delta(d))
        .unwrap_or(NaiveDateTime::MAX)
}

#[derive(Clone)]
pub struct WebhookWorker {
    db: Db,
    client: reqwest::Client,
    config: WorkerConfig,
}

/// What one attempt got.
#[derive(Debug, Clone)]
struct Outcome {
    success: bool,
    status_code: Option<i32>,
    latency_ms: i64,
    error: Option<String>,
}

impl WebhookWorker {
    pub fn new(db: Db, config: WorkerConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Cadenza-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
            }))
            .build()
            .map_err(|e| format!("the webhook HTTP client cannot be built: {e}"))?;
        Ok(WebhookWorker { db, client, config })
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Sends one delivery to one endpoint and reports what happened (nothing recorded).
    async fn attempt(&self, endpoint: &Endpoint, delivery: &Delivery) -> Outcome {
        let started = Instant::now();
        let failed = |error: String, status_code: Option<i32>| Outcome {
            success: false,
            status_code,
            latency_ms: started.elapsed().as_millis() as i64,
            error: Some(error),
        };
        // IP literals never reach the resolver: checked here.
        let url = match webhook::parse_receiver_url(&endpoint.url, true) {
            Ok(url) => url,
            Err(e) => return failed(format!("url {e}"), None),
        };
        if let Ok(ip) = url.host.parse::<std::net::IpAddr>() {
            if let Some(why) = webhook::private_address(ip).filter(|_| !self.config.allow_private) {
                return failed(
                    format!(
                        "refused: {ip} is a {why} address and private addresses are not allowed"
                    ),
                    None,
                );
            }
        }
        let at = now();
        let timestamp = at.and_utc().timestamp();
        let keys: Vec<Vec<u8>> = endpoint
            .signing_secrets(at)
            .into_iter()
            .filter_map(webhook::decode_secret)
            .collect();
        let signature =
            webhook::signature_header(&keys, &delivery.id, timestamp, delivery.payload.as_bytes());
        let request = self
            .client
            .post(url.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone());
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                // The answer's body is not needed; reading it is bounded by the timeout.
                let _ = response.bytes().await;
                let code = Some(i32::from(status.as_u16()));
                if status.is_success() {
                    Outcome {
                        success: true,
                        status_code: code,
                        latency_ms: started.elapsed().as_millis() as i64,
                        error: None,
                    }
                } else {
                    failed(format!("answered {status}"), code)
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    format!("timed out after {} ms", self.config.timeout.as_millis())
                } else {
                    let mut message = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        message = format!("{message}: {s}");
                        source = s.source();
                    }
                    message
                };
                failed(what, None)
            }
        }
    }

    /// Serves one claimed endpoint: its pending deliveries in order until one fails, none
    /// is left, or [`PER_CLAIM`] went out.
    pub async fn serve_endpoint(&self, endpoint_id: String) -> Result<usize, DbError> {
        let mut sent = 0;
        loop {
            let id = endpoint_id.clone();
            let next = self
                .db
                .run(move |conn| {
                    let endpoint = crate::db::schema::webhook_endpoints::table
                        .find(&id)
                        .select(Endpoint::as_select())
                        .first(conn)
                        .optional()?;
                    let delivery = storage::next_pending(conn, &id)?;
                    Ok::<_, DbError>(endpoint.zip(delivery))
                })
                .await?;
            let Some((endpoint, delivery)) = next.filter(|(e, _)| e.enabled) else {
                let id = endpoint_id.clone();
                self.db.run(move |conn| storage::release(conn, &id)).await?;
                return Ok(sent);
            };
            let outcome = self.attempt(&endpoint, &delivery).await;
            if outcome.success {
                tracing::info!(endpoint_id = %endpoint.id, webhook_id = %delivery.id, status = ?outcome.status_code, latency_ms = outcome.latency_ms, "webhook delivered");
                let lease = self.config.lease;
                let (endpoint_id, delivery_id) = (endpoint.id.clone(), delivery.id.clone());
                self.db
                    .run(move |conn| {
                        let at = now();
                        let attempt = Attempt {
                            status_code: outcome.status_code,
                            latency_ms: outcome.latency_ms,
                            error: None,
                            at,
                        };
                        storage::record_success(
                            conn,
                            &delivery_id,
                            &endpoint_id,
                            &attempt,
                            add(at, lease),
                        )
                    })
                    .await?;
                sent += 1;
                if sent >= PER_CLAIM {
                    let id = endpoint.id.clone();
                    self.db.run(move |conn| storage::release(conn, &id)).await?;
                    return Ok(sent);
                }
            } else {
                let error = outcome.error.clone().unwrap_or_default();
                tracing::warn!(endpoint_id = %endpoint.id, webhook_id = %delivery.id, status = ?outcome.status_code, error = %error, "webhook delivery failed; will retry");
                let failures =
                    u32::try_from(endpoint.consecutive_failures.saturating_add(1)).unwrap_or(1);
                let delay = crate::mail::worker::backoff(
                    failures,
                    self.config.backoff_base,
                    self.config.backoff_max,
                    &mut rand::thread_rng(),
                );
                let disable_after = self.config.disable_after;
                let (endpoint_id, delivery_id) = (endpoint.id.clone(), delivery.id.clone());
                self.db
                    .run(move |conn| {
                        let at = now();
                        let attempt = Attempt {
                            status_code: outcome.status_code,
                            latency_ms: outcome.latency_ms,
                            error: Some(&error),
                            at,
                        };
                        let endpoint = storage::record_failure(
                            conn,
                            &delivery_id,
                            &endpoint_id,
                            &attempt,
                            add(at, delay),
                        )?;
                        match endpoint {
                            Some(endpoint) => disable_if_failing_too_long(
                                conn,
                                &endpoint,
                                &error,
                                disable_after,
                                at,
                            ),
                            None => Ok(false),
                        }
                    })
                    .await?;
                return Ok(sent);
            }
        }
    }

    /// Claims up to `limit` endpoints for this worker.
    pub async fn claim(&self, limit: usize) -> Result<Vec<Endpoint>, DbError> {
        let lease = self.config.lease;
        self.db
            .run(move |conn| {
                let at = now();
                storage::claim_endpoints(conn, at, add(at, lease), limit as i64)
            })
            .await
    }

    /// Delivers until `shutdown` turns true, serving up to `concurrency` endpoints at once;
    /// finishes the requests in flight before returning.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(
            concurrency = self.config.concurrency,
            "webhook worker started"
        );
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = permits.available_permits();
            if free > 0 {
                match self.claim(free).await {
                    Ok(endpoints) => {
                        for endpoint in endpoints {
                            let Ok(permit) = permits.clone().acquire_owned().await else {
                                break;
                            };
                            let worker = self.clone();
                            actix_web::rt::spawn(async move {
                                let id = endpoint.id.clone();
                                if let Err(e) = worker.serve_endpoint(endpoint.id).await {
                                    tracing::warn!(endpoint_id = %id, error = %e, "webhook endpoint round failed");
                                }
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook claim failed"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Wait for the endpoints in hand.
        let all = u32::try_from(self.config.concurrency).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        tracing::info!("webhook worker stopped");
    }
}

use diesel::prelude::*;

/// Disables an endpoint that has failed without a success since `failing_since` for at
/// least `disable_after`, with an audit event and a mail to each owner of its
/// organization. True if it was disabled now.
pub fn disable_if_failing_too_long(
    conn: &mut crate::db::DbConnection,
    endpoint: &Endpoint,
    last_error: &str,
    disable_after: Duration,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let Some(since) = endpoint.failing_since else {
        return Ok(false);
    };
    if !endpoint.enabled || at < add(since, disable_after) {
        return Ok(false);
    }
    write_transaction(conn, |conn| {
        let hours = disable_after.as_secs() / 3600;
        let reason = format!(
            "every delivery failed for {} (since {} UTC); last error: {last_error}",
            if hours >= 1 {
                format!("{hours} h")
            } else {
                format!("{} s", disable_after.as_secs())
            },
            since.format("%Y-%m-%d %H:%M:%S"),
        );
        if !storage::disable_failing(conn, &endpoint.id, since, &reason, at)? {
            return Ok(false);
        }
        AuditEvent::new(
            "webhook.endpoint_disabled",
            "webhook_endpoint",
            Some(&endpoint.id),
        )
        .by(Some(&endpoint.organization_id), None)
        .after(serde_json::json!({"url": endpoint.url, "reason": reason}))
        .write(conn)?;
        let organization = crate::db::accounts::find_organization(conn, &endpoint.organization_id)?;
        let organization = organization.map(|o| o.name).unwrap_or_default();
        for (user_id, email, name) in storage::owners_of(conn, &endpoint.organization_id)? {
            outbox::enqueue(
                conn,
                OutgoingMail {
                    template: "webhook_disabled",
                    recipient_email: &email,
                    recipient_user_id: Some(&user_id),
                    context: serde_json::json!({
                        "name": name,
                        "organization": organization,
                        "url": endpoint.url,
                        "endpoint_id": endpoint.id,
                        "failing_since": since.format("%Y-%m-%d %H:%M UTC").to_string(),
                        "last_error": last_error,
                    }),
                },
            )?;
        }
        tracing::warn!(endpoint_id = %endpoint.id, "webhook endpoint disabled after failing too long");
        Ok(true)
    })
}
