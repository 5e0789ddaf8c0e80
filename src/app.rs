//! Wiring: the shared state, the middleware stack and the HTTP server.
//! [`Application::build`] binds (port 0 works, for tests) and returns before
//! serving, so callers learn the real address first.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::api::cache_metrics::CacheMetrics;
use crate::api::read_cache::ReadCache;
use crate::api::state::AppState;
use crate::api::{self, extract::JsonLimit, problem};
use crate::auth::tokens::TokenKeys;
use crate::config::{ConfigError, ServeSettings};
use crate::db::postings_cache::PostingsCache;
use crate::db::{DatabaseTarget, Db, DbError};
use crate::domain::market_rules::MarketRules;
use crate::mail::metrics::MailMetrics;
use crate::mail::{MailError, Transport, Worker, WorkerConfig};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics registry: {0}")]
    Metrics(String),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("the OpenAPI document cannot be serialized: {0}")]
    OpenApi(String),
    #[error("{0}")]
    Webhooks(String),
}

pub struct Application {
    address: SocketAddr,
    database: String,
    server: Server,
    /// The in-process mail delivery worker, unless `CADENZA_MAIL_WORKER=false`.
    mail_worker: Option<Worker>,
    /// The in-process webhook delivery worker, unless `CADENZA_WEBHOOKS_WORKER=false`.
    webhook_worker: Option<crate::webhooks::WebhookWorker>,
    /// For the in-process sweeper (`CADENZA_SWEEP_INTERVAL`, 0 = off).
    db: Db,
    sweep_interval: std::time::Duration,
    /// Warmed in the background at start (see [`warm_postings`]).
    postings: Arc<PostingsCache>,
    market_rules: Arc<MarketRules>,
}

impl Application {
    pub fn build(settings: ServeSettings) -> Result<Self, StartupError> {
        let secret = settings.resolve_jwt_secret()?;
        // Before anything else starts: an invalid rules file must stop the start.
        let market_rules = Arc::new(settings.load_market_rules()?);
        let target = DatabaseTarget::parse(&settings.database.effective_database_url())?;
        let db = Db::connect(&target, settings.database.db_pool_size)?;
        // Before listening, so the first browse does not wait for it.
        let mut conn = db.conn()?;
        crate::db::marketplace::facet_keys::warm(&mut conn)?;
        drop(conn);
        let prometheus = PrometheusMetricsBuilder::new("cadenza")
            .endpoint("/metrics")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| StartupError::Metrics(e.to_string()))?;
        // Built before binding so a bad mail setting stops the start, not the first mail.
        let sweeper_db = db.clone();
        let sweep_interval_secs = settings.sweep_interval_secs;
        let mail_worker = if settings.mail_worker {
            let metrics = MailMetrics::register(&prometheus.registry)
                .map_err(|e| StartupError::Metrics(e.to_string()))?;
            Some(
                Worker::new(
                    db.clone(),
                    Transport::from_settings(&settings.mail, &settings.database.data_dir)?,
                    WorkerConfig::from_settings(&settings.mail, &settings.public_url)?,
                )
                .with_metrics(metrics),
            )
        } else {
            None
        };
        let webhook_worker = if settings.webhooks.webhooks_worker {
            Some(
                crate::webhooks::WebhookWorker::new(
                    db.clone(),
                    crate::webhooks::WorkerConfig::from_settings(&settings.webhooks),
                )
                .map_err(StartupError::Webhooks)?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(settings.listen).map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        let settings = Arc::new(settings);
        let postings = Arc::new(PostingsCache::new(
            settings.postings_cache_mib.saturating_mul(1024 * 1024),
        ));
        let read_cache = Arc::new(ReadCache::new(
            settings.read_cache_mib.saturating_mul(1024 * 1024),
        ));
        CacheMetrics::register(&prometheus.registry, postings.clone(), read_cache.clone())
            .map_err(|e| StartupError::Metrics(e.to_string()))?;
        let state = web::Data::new(AppState {
            db,
            tokens: TokenKeys::new(
                &secret,
                &settings.jwt_issuer,
                settings.access_token_ttl_secs,
            ),
            postings: postings.clone(),
            read_cache: read_cache.clone(),
            settings: settings.clone(),
            market_rules: market_rules.clone(),
        });
        let json_limit = JsonLimit(settings.max_json_bytes);
        // Built once for all workers: the document served at /api/openapi.json and the
        // `Allow` header of 405 answers both come from it.
        let openapi = openapi_document();
        let openapi_json = web::Data::new(OpenApiJson(
            openapi
                .to_json()
                .map_err(|e| StartupError::OpenApi(e.to_string()))?,
        ));
        let allowed_methods = web::Data::new(api::openapi::AllowedMethods::from_document(&openapi));

        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .openapi(api::ApiDoc::openapi())
                .app_data(state.clone())
                .app_data(json_limit)
                // Raw-body extractors (deal transitions read bytes to fingerprint them)
                // get the same limit as JSON bodies.
                .app_data(web::PayloadConfig::new(json_limit.0))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    api::problem::ApiError::bad_request(format!("invalid query string: {err}"))
                        .into()
                }))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    api::problem::ApiError::bad_request(format!("invalid path: {err}")).into()
                }))
                .app_data(allowed_methods.clone())
                .configure(api::configure)
                .into_app()
                // The web app's pages, at the root beside `/api/v1` (`docs/web.md`).
                .app_data(web::FormConfig::default().limit(crate::web::forms::FORM_LIMIT))
                .configure(crate::web::configure)
                .service(
                    web::resource("/api/openapi.json")
                        .app_data(openapi_json.clone())
                        .route(web::get().to(serve_openapi)),
                )
                .wrap(actix_web::middleware::from_fn(
                    api::input::refuse_unstorable_input,
                ))
                .wrap(ErrorHandlers::new().default_handler(problem::problem_for_framework_errors))
                .wrap(prometheus.clone())
                .wrap_fn(|req, srv| {
                    use actix_web::dev::Service;
                    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
                            res.headers_mut().insert(
                                actix_web::http::header::HeaderName::from_static("x-request-id"),
                                id,
                            );
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::default())
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: address,
            source,
        })?
        .shutdown_timeout(30);
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
        }
        Ok(Application {
            address,
            database: target.describe(),
            server: server.run(),
            mail_worker,
            webhook_worker,
            db: sweeper_db,
            sweep_interval: std::time::Duration::from_secs(sweep_interval_secs),
            postings,
            market_rules,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server from elsewhere (`cadenza demo` stops its private server when done).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The market rules this server enforces.
    pub fn market_rules(&self) -> &MarketRules {
        &self.market_rules
    }

    /// Where mail goes, when this process delivers it.
    pub fn mail_transport(&self) -> Option<String> {
        self.mail_worker.as_ref().map(|w| w.transport().describe())
    }

    /// Serves until SIGTERM (graceful: in-flight requests finish, up to 30 s) or SIGINT (at once),
    /// delivering mail alongside; the worker stops with the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = self
            .mail_worker
            .map(|worker| actix_web::rt::spawn(worker.run(stopped)));
        let webhook_worker = self
            .webhook_worker
            .map(|worker| actix_web::rt::spawn(worker.run(stop.subscribe())));
        actix_web::rt::spawn(crate::catalogs::warm_postings(
            self.db.clone(),
            self.postings.clone(),
            None,
        ));
        let sweeper = (self.sweep_interval > std::time::Duration::ZERO).then(|| {
            actix_web::rt::spawn(crate::sweeper::run(
                self.db.clone(),
                self.sweep_interval,
                stop.subscribe(),
            ))
        });
        let result = self.server.await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(sweeper) = sweeper {
            let _ = sweeper.await;
        }
        if let Some(webhook_worker) = webhook_worker {
            let _ = webhook_worker.await;
        }
        result
    }
}

/// The OpenAPI document of every route the server mounts, completed with the shared
/// error answers (`api::openapi::complete`). The routes are mounted on a throw-away app
/// only to collect their documentation, so this needs no database; tests use it too.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(api::ApiDoc::openapi())
        .configure(api::configure)
        .split_for_parts();
    api::openapi::complete(&mut doc);
    doc
}

/// The serialized document, shared by the workers.
struct OpenApiJson(String);

async fn serve_openapi(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}
