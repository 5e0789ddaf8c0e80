//! Runtime configuration: environment variables (12-factor), each with a
//! documented default, surfaced by `cadenza serve --help` through clap.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

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
