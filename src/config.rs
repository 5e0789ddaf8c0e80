//! Runtime configuration: environment variables (12-factor), each with a
//! documented default, surfaced by `cadenza serve --help` through clap.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::domain::market_rules::{MarketRules, RulesFileError};

/// Whether the process runs for a developer (generated secrets allowed) or in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Settings shared by every subcommand that touches the database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Directory for the embedded SQLite database, generated secrets and the development mail folder.
    #[arg(long, env = "CADENZA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL. `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite://PATH` a
    /// SQLite file. Default: SQLite file `cadenza.db` in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Maximum pooled database connections.
    #[arg(long, env = "CADENZA_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
}

impl DatabaseSettings {
    /// The URL actually used: the configured one, or the SQLite file under the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_string(),
            _ => format!("sqlite://{}", self.data_dir.join("cadenza.db").display()),
        }
    }
}

/// Settings of `cadenza serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address and port the HTTP API listens on.
    #[arg(long, env = "CADENZA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseSettings,

    /// `development` generates and keeps a JWT secret in the data directory when none is given;
    /// `production` refuses to start without `CADENZA_JWT_SECRET`.
    #[arg(long, env = "CADENZA_ENV", value_enum, default_value = "development")]
    pub environment: Environment,

    /// Secret for signing access tokens (HS256), at least 32 bytes. Required in production.
    #[arg(long, env = "CADENZA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// `iss` and `aud` claim of access tokens.
    #[arg(long, env = "CADENZA_JWT_ISSUER", default_value = "cadenza")]
    pub jwt_issuer: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "CADENZA_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "CADENZA_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// Public base URL of the web application, used for links in e-mails.
    #[arg(
        long,
        env = "CADENZA_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// Largest accepted JSON request body, in bytes (imports have their own limit).
    #[arg(long, env = "CADENZA_MAX_JSON_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_json_bytes: usize,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CADENZA_WORKERS")]
    pub workers: Option<usize>,

    /// Take the client address for login throttling from `Forwarded`/`X-Forwarded-For`
    /// (only behind a proxy that sets them; otherwise clients could pick their own address).
    #[arg(long, env = "CADENZA_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Log line format.
    #[arg(long, env = "CADENZA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Run the mail delivery worker inside this process. Set to false when separate
    /// `cadenza worker` processes deliver the mail.
    #[arg(
        long,
        env = "CADENZA_MAIL_WORKER",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub mail_worker: bool,

    /// Seconds between sweeps of time-driven changes (expired offers and requests,
    /// expiring deals, ended terms, due and overdue installments and royalty statements); 0 disables the sweeper in this process.
    #[arg(long, env = "CADENZA_SWEEP_INTERVAL", default_value_t = 60)]
    pub sweep_interval_secs: u64,

    /// MiB of decoded catalog postings this process keeps in memory, so selectors
    /// repeated or edited on a catalog do not fetch the same bitmaps again; 0 disables
    /// the cache. Safe with several nodes on one database (entries carry the catalog's
    /// postings version, read at every evaluation).
    #[arg(long, env = "CADENZA_POSTINGS_CACHE_MIB", default_value_t = 256)]
    pub postings_cache_mib: u64,

    /// MiB of rendered marketplace and deal-room answers kept per node (0 disables
    /// the cache). Safe with several nodes on one database: entries carry the market's
    /// or the deal's version, read on every request (docs/performance.md, "Read caches").
    #[arg(long, env = "CADENZA_READ_CACHE_MIB", default_value_t = 64)]
    pub read_cache_mib: u64,

    /// TOML file of market rules per territory (regulators' limits on exclusivity and
    /// prepayments; format in docs/operations.md, "Market rules"). Read once at start;
    /// an invalid file stops the start. Without it, no market rules apply.
    #[arg(long, env = "CADENZA_MARKET_RULES")]
    pub market_rules_file: Option<PathBuf>,

    #[command(flatten)]
    pub mail: MailSettings,

    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// Webhook delivery (docs/webhooks.md): the worker inside `cadenza serve`, its limits and
/// timing, and which receiver addresses are allowed.
#[derive(Debug, Clone, Args)]
pub struct WebhookSettings {
    /// Deliver webhooks from inside `cadenza serve`.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_WORKER",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub webhooks_worker: bool,

    /// Allow endpoints on private, loopback, link-local and unique-local addresses
    /// (development and tests only: it lets organizations reach the operator's network).
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub webhooks_allow_private: bool,

    /// Time limit of one delivery (connect, send, answer), in milliseconds.
    #[arg(long, env = "CADENZA_WEBHOOKS_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhooks_timeout_ms: u64,

    /// Endpoints delivered to at the same time by one worker.
    #[arg(long, env = "CADENZA_WEBHOOKS_CONCURRENCY", default_value_t = 16)]
    pub webhooks_concurrency: u32,

    /// Pause between looks for due deliveries, in milliseconds.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_POLL_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub webhooks_poll_interval_ms: u64,

    /// First retry delay after a failure, in milliseconds; doubles per consecutive failure.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_BACKOFF_BASE_MS",
        default_value_t = 5_000
    )]
    pub webhooks_backoff_base_ms: u64,

    /// Longest retry delay, in milliseconds.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_BACKOFF_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub webhooks_backoff_max_ms: u64,

    /// An endpoint failing without a single success for this long is disabled and its
    /// organization's owners are mailed, in seconds.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_DISABLE_AFTER_SECS",
        default_value_t = 86_400
    )]
    pub webhooks_disable_after_secs: u64,

    /// How long the previous signing secret stays valid after a rotation, in seconds.
    #[arg(
        long,
        env = "CADENZA_WEBHOOKS_ROTATION_GRACE_SECS",
        default_value_t = 86_400
    )]
    pub webhooks_rotation_grace_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            webhooks_worker: true,
            webhooks_allow_private: false,
            webhooks_timeout_ms: 10_000,
            webhooks_concurrency: 16,
            webhooks_poll_interval_ms: 1_000,
            webhooks_backoff_base_ms: 5_000,
            webhooks_backoff_max_ms: 3_600_000,
            webhooks_disable_after_secs: 86_400,
            webhooks_rotation_grace_secs: 86_400,
        }
    }
}

/// Settings of `cadenza worker`: mail delivery alone.
#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Public base URL of the web application, used for links in e-mails.
    #[arg(
        long,
        env = "CADENZA_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    #[command(flatten)]
    pub mail: MailSettings,

    /// Log line format.
    #[arg(long, env = "CADENZA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465).
    Tls,
    /// STARTTLS when the server offers it, plain otherwise. Only for trusted networks.
    Opportunistic,
    /// No encryption at all. Only for a relay on the same host or a test server.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls | SmtpTls::Opportunistic => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::Opportunistic => "opportunistic",
            SmtpTls::None => "none",
        }
    }
}

/// Mail delivery: the transport (SMTP, or a folder of `.eml` files when no SMTP server
/// is configured) and the worker's timing. See docs/mail.md.
#[derive(Debug, Clone, Args)]
pub struct MailSettings {
    /// Sender of every mail (`Name <address>`).
    #[arg(
        long,
        env = "CADENZA_MAIL_FROM",
        default_value = "Cadenza <no-reply@cadenza.localhost>"
    )]
    pub mail_from: String,

    /// SMTP server as one URL: `smtp://user:pass@host:587?tls=starttls` (`tls` is starttls,
    /// tls, opportunistic or none; `smtps://host` means tls). Overrides the CADENZA_SMTP_HOST
    /// family. Without any SMTP setting, mails are written as .eml files to CADENZA_MAIL_DIR.
    #[arg(long, env = "CADENZA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// SMTP server host name (alternative to CADENZA_SMTP_URL).
    #[arg(long, env = "CADENZA_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port. Default: 587 for starttls and opportunistic, 465 for tls, 25 for none.
    #[arg(long, env = "CADENZA_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is secured.
    #[arg(long, env = "CADENZA_SMTP_TLS", value_enum, default_value = "starttls")]
    pub smtp_tls: SmtpTls,

    /// SMTP user name, if the server requires authentication.
    #[arg(long, env = "CADENZA_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password.
    #[arg(long, env = "CADENZA_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Seconds before an SMTP connection or command gives up (keep it well under the lease).
    #[arg(long, env = "CADENZA_SMTP_TIMEOUT_SECS", default_value_t = 30)]
    pub smtp_timeout_secs: u64,

    /// Folder for .eml files when no SMTP server is configured. Default: `<data_dir>/mail`.
    #[arg(long, env = "CADENZA_MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,

    /// How often the worker looks for due mail, in milliseconds.
    #[arg(long, env = "CADENZA_MAIL_POLL_INTERVAL_MS", default_value_t = 2000)]
    pub mail_poll_interval_ms: u64,

    /// Mails claimed per round.
    #[arg(long, env = "CADENZA_MAIL_BATCH_SIZE", default_value_t = 20)]
    pub mail_batch_size: u32,

    /// How long a claimed mail stays reserved for its worker, in milliseconds. A worker
    /// that dies mid-delivery releases its mails when the lease ends.
    #[arg(long, env = "CADENZA_MAIL_LEASE_MS", default_value_t = 300_000)]
    pub mail_lease_ms: u64,

    /// Delivery attempts before a mail becomes a dead letter.
    #[arg(long, env = "CADENZA_MAIL_MAX_ATTEMPTS", default_value_t = 10)]
    pub mail_max_attempts: u32,

    /// Delay before the first retry, in milliseconds; it doubles with each attempt
    /// (with random jitter) up to CADENZA_MAIL_BACKOFF_MAX_MS.
    #[arg(long, env = "CADENZA_MAIL_BACKOFF_BASE_MS", default_value_t = 60_000)]
    pub mail_backoff_base_ms: u64,

    /// Longest delay between two attempts, in milliseconds.
    #[arg(long, env = "CADENZA_MAIL_BACKOFF_MAX_MS", default_value_t = 6 * 3600 * 1000)]
    pub mail_backoff_max_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "CADENZA_JWT_SECRET is not set. In production it is required: set it to a random string of \
         at least 32 bytes (for example `openssl rand -hex 32`), or set CADENZA_ENV=development to \
         let Cadenza generate one in the data directory."
    )]
    MissingJwtSecret,
    #[error("CADENZA_JWT_SECRET is too short: it needs at least 32 bytes, it has {0}")]
    JwtSecretTooShort(usize),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the market rules file {path} (CADENZA_MARKET_RULES): {source}")]
    MarketRulesFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the market rules file {path} (CADENZA_MARKET_RULES) is refused: {errors}")]
    MarketRules {
        path: PathBuf,
        errors: RulesFileError,
    },
}

const MIN_SECRET_BYTES: usize = 32;

impl ServeSettings {
    /// The JWT signing secret: configured, or (development only) generated once and kept in
    /// `<data_dir>/jwt-secret` so tokens survive restarts.
    pub fn resolve_jwt_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            let len = secret.len();
            if len < MIN_SECRET_BYTES {
                return Err(ConfigError::JwtSecretTooShort(len));
            }
            return Ok(secret.as_bytes().to_vec());
        }
        match self.environment {
            Environment::Production => Err(ConfigError::MissingJwtSecret),
            Environment::Development => development_secret(&self.database.data_dir),
        }
    }

    /// The market rules of `market_rules_file`, parsed once; none without a file (an empty
    /// `CADENZA_MARKET_RULES` counts as no file). A file that cannot be read or holds an
    /// invalid rule is an error naming every problem, so the server does not start with
    /// rules other than the operator wrote.
    pub fn load_market_rules(&self) -> Result<MarketRules, ConfigError> {
        let Some(path) = self
            .market_rules_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        else {
            return Ok(MarketRules::none());
        };
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::MarketRulesFile {
                path: path.clone(),
                source,
            })?;
        MarketRules::parse(&text).map_err(|errors| ConfigError::MarketRules {
            path: path.clone(),
            errors,
        })
    }
}

fn development_secret(data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let io_err = |source| ConfigError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io_err)?;
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_BYTES => {
            return Ok(existing.trim().as_bytes().to_vec())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    write_private_file(&path, secret.as_bytes()).map_err(io_err)?;
    Ok(secret.into_bytes())
}

/// Writes a file readable by its owner only: it holds a signing secret.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}
