//! Storage: one schema on two backends. SQLite (bundled) is the embedded default,
//! PostgreSQL the production backend; the `DATABASE_URL` scheme picks one, and
//! the same diesel queries run on both through [`DbConnection`].
//!
//! Diesel is synchronous: [`Db::run`] moves each unit of work onto actix's
//! blocking thread pool so the async executor never waits on the database.

/// One multi-row `INSERT` of `rows` into `table`: diesel's `MultiConnection` runs
/// multi-row inserts only on a concrete backend. Callers chunk under each backend's
/// bound-parameter limit (SQLite's is 32,766). Defined before the modules below, so
/// each of them sees it.
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        match &mut *$conn {
            $crate::db::DbConnection::Sqlite(lite) => {
                diesel::insert_into($table).values($rows).execute(lite)
            }
            $crate::db::DbConnection::Postgres(pg) => {
                diesel::insert_into($table).values($rows).execute(pg)
            }
        }
    };
}

pub mod accounts;
pub mod audit;
pub mod catalogs;
pub mod deals;
pub mod ern;
pub mod grant_recordings_cache;
pub mod holdings;
pub mod idempotency;
pub mod market_version;
pub mod marketplace;
pub mod notifications;
pub mod outbox;
pub mod postings_cache;
pub mod recordings;
pub mod royalties;
pub mod schema;
pub mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend. Queries written against it compile for both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where the data lives, parsed once from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

impl DatabaseTarget {
    /// Accepts `postgres://`, `postgresql://`, `sqlite://PATH` and `sqlite:PATH`.
    /// Anything else is refused: a typo must never silently create a SQLite file.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres {
                url: url.to_string(),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(p) if !p.is_empty() => Ok(DatabaseTarget::Sqlite {
                path: PathBuf::from(p),
            }),
            _ => Err(DbError::UnsupportedUrl(redact(url))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::Postgres { .. } => Backend::Postgres,
            DatabaseTarget::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// A printable description without credentials.
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::Postgres { url } => format!("PostgreSQL at {}", redact(url)),
            DatabaseTarget::Sqlite { path } => format!("SQLite file {}", path.display()),
        }
    }
}

/// Hides the password of a URL for logs and error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported DATABASE_URL `{0}`: use postgres://user@host/db for PostgreSQL or sqlite://PATH for SQLite"
    )]
    UnsupportedUrl(String),
    #[error("cannot create the directory of the SQLite database {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database connection failed: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database pool could not be built: {0}")]
    PoolBuild(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("the database task was cancelled")]
    Cancelled,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Reads a stored name (a role, a state, a kind) as its type. A name the code does
/// not know is corrupt data, reported as such — never replaced by a default.
pub fn stored<T>(column: &str, raw: &str) -> Result<T, DbError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| DbError::Corrupt(format!("{column}: {e}")))
}

/// Reads a stored JSON column; unreadable JSON is corrupt data, never a default.
pub fn stored_json<T: serde::de::DeserializeOwned>(column: &str, raw: &str) -> Result<T, DbError> {
    serde_json::from_str(raw).map_err(|e| DbError::Corrupt(format!("{column}: {e}")))
}

impl DbError {
    /// A unique or primary-key constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Opens connections to exactly the configured backend (diesel's derived
/// `establish` would try each backend in turn, which could turn a PostgreSQL
/// URL into a SQLite file when the server is down).
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

/// Per-connection SQLite settings: WAL for concurrent readers, foreign keys
/// enforced, and a busy timeout so writers queue instead of failing at once.
/// The busy timeout comes first so that switching to WAL waits for, rather than fails on,
/// a connection opened at the same moment.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 15000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON;";

impl ConnectionManager {
    pub fn new(target: DatabaseTarget) -> Self {
        Self { target }
    }

    pub fn establish(&self) -> Result<DbConnection, DbError> {
        match &self.target {
            DatabaseTarget::Postgres { url } => {
                Ok(DbConnection::Postgres(PgConnection::establish(url)?))
            }
            DatabaseTarget::Sqlite { path } => {
                let path_str = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path_str)?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.ping().map_err(DbError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledDb = PooledConnection<ConnectionManager>;

/// The database handle shared by the HTTP handlers, workers and commands.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
}

impl Db {
    /// Connects (creating the SQLite file and its directory if needed) and
    /// brings the schema up to date.
    pub fn connect(target: &DatabaseTarget, pool_size: u32) -> Result<Self, DbError> {
        if let DatabaseTarget::Sqlite { path } = target {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(Duration::from_secs(15))
            .build(ConnectionManager::new(target.clone()))
            .map_err(|e| DbError::PoolBuild(e.to_string()))?;
        let db = Db {
            pool,
            backend: target.backend(),
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> Result<PooledDb, DbError> {
        Ok(self.pool.get()?)
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.conn()?;
        run_migrations(&mut conn)
    }

    /// Runs blocking database work off the async executor, inside the caller's tracing span
    /// so its log lines keep the request id.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(DbError::from)?;
            work(&mut conn)
        })
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
    }

    /// Whether the database answers a trivial query (for `/ready`).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.ping().map_err(DbError::Query)).await
    }
}

/// A stored recording set (`RecordingSet` bytes); `None` only for a row the
/// startup backfill has not reached.
pub type StoredRecordings = Option<Vec<u8>>;

/// Runs the embedded migrations of the connection's backend, then the backfills
/// of data the migrations cannot compute in SQL ([`recordings::backfill`], and
/// [`audit::backfill`], which chains audit events written before the chain). On
/// PostgreSQL an advisory lock serializes nodes that start at the same moment.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    const MIGRATION_LOCK: i64 = 0x0CAD_E22A;
    let postgres = matches!(conn, DbConnection::Postgres(_));
    if postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    }
    let result = pending_migrations(conn).and_then(|done| {
        recordings::backfill(conn)?;
        audit::backfill(conn)?;
        Ok(done)
    });
    if postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    }
    result
}

fn pending_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    let migration_err =
        |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    let done = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(migration_err)?;
    Ok(done.len())
}

/// Runs `work` in a write transaction. On SQLite it begins `IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads and then writes can fail
/// with SQLITE_BUSY without waiting, which `busy_timeout` cannot help. On
/// PostgreSQL it is an ordinary transaction; critical sections lock rows explicitly
/// (see [`lock_organization`]).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConnection as Connection>::TransactionManager;
    let begun = match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgres(_) => Manager::begin_transaction(conn),
    };
    begun.map_err(|e| E::from(DbError::Query(e)))?;
    match work(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(E::from(DbError::Query(e)))
            }
        },
        Err(e) => {
            let _ = Manager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Serializes writers of one organization's membership until the transaction ends:
/// a no-op update takes the row lock on PostgreSQL (SQLite's IMMEDIATE transaction
/// already serializes every writer).
pub fn lock_organization(conn: &mut DbConnection, organization_id: &str) -> Result<(), DbError> {
    use diesel::prelude::*;
    use schema::organizations::dsl;
    diesel::update(dsl::organizations.find(organization_id))
        .set(dsl::name.eq(dsl::name))
        .execute(conn)?;
    Ok(())
}

/// A new opaque identifier: a UUIDv7, so ids sort by creation time (good index locality
/// and a natural cursor order).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current instant as stored: UTC, microsecond precision (what both backends keep).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
        .naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_scheme_selects_backend() {
        assert_eq!(
            DatabaseTarget::parse("postgres://u:p@h/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseTarget::parse("postgresql://h/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite://./data/c.db").unwrap(),
            DatabaseTarget::Sqlite {
                path: PathBuf::from("./data/c.db")
            }
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:/tmp/x.db").unwrap(),
            DatabaseTarget::Sqlite {
                path: PathBuf::from("/tmp/x.db")
            }
        );
    }

    #[test]
    fn unknown_scheme_is_refused_not_turned_into_a_file() {
        for url in [
            "mysql://h/db",
            "./data/c.db",
            "postgre://h/db",
            "sqlite://",
            "",
        ] {
            assert!(
                matches!(DatabaseTarget::parse(url), Err(DbError::UnsupportedUrl(_))),
                "{url} should be refused"
            );
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let described = DatabaseTarget::parse("postgres://cadenza:s3cret@db:5432/cadenza")
            .unwrap()
            .describe();
        assert!(!described.contains("s3cret"), "{described}");
        assert!(
            described.contains("cadenza:***@db:5432/cadenza"),
            "{described}"
        );
    }
}
