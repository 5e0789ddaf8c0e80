//! `cadenza demo`: seeds a realistic market — two large platforms, a small one and
//! a label, their licensing teams, catalogs, slices, offers, requests, and deals in
//! every state — into the configured database.
//!
//! It starts the real server in-process on a loopback port and tells its story
//! through the public HTTP API ([`client::ApiClient`]), so the demo data obeys every
//! rule the API enforces: roles, holdings, exclusivity, the state machine. The only
//! shortcut is reading the invitation tokens from the outbox, as the invitees would
//! from their mail. It runs the sweeper once, as `cadenza serve` does every minute,
//! to let a deadline pass and a term end.
//!
//! Run twice it changes nothing: a database where the story already ended is
//! reported as seeded; a database holding anything else is refused.

pub mod cast;
pub mod client;
pub mod story;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::app::{Application, StartupError};
use crate::config::{Environment, ServeSettings};
use crate::db::{DatabaseTarget, Db, DbError};
use crate::sweeper::SweepError;
use client::ApiClient;
pub use story::Market;

/// How big a market to seed.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Tracks in Aurora Music's catalog (Dune Records gets a thirtieth, at least 500).
    pub tracks: u64,
    /// Seed of the catalog generator.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            tracks: 150_000,
            seed: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{request} answered {status}: {body}")]
    Unexpected {
        request: String,
        status: u16,
        body: String,
    },
    #[error("unexpected answer from the API: {0}")]
    Shape(String),
    #[error("cannot reach the API: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error("catalog file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Refused(String),
}

/// What a run did.
#[derive(Debug)]
pub enum Outcome {
    Seeded(Market),
    /// The story already ended in this database; nothing changed.
    AlreadySeeded,
}

/// Seeds the market through the API at `api` (a server on the database `db`), or
/// reports that it was seeded before. `scratch` holds the generated catalog files
/// while they are imported.
pub async fn seed(
    api: &ApiClient,
    db: &Db,
    options: &DemoOptions,
    scratch: &Path,
    progress: &dyn Fn(&str),
) -> Result<Outcome, DemoError> {
    let owner = cast::AURORA.owner();
    if let Some(token) = api.login(owner.email, owner.password).await? {
        return if story::finished_before(api, &token).await? {
            Ok(Outcome::AlreadySeeded)
        } else {
            Err(DemoError::Refused(
                "an earlier `cadenza demo` stopped part-way through this database; \
                 seed a fresh one (remove the SQLite file, or point DATABASE_URL at an \
                 empty database)"
                    .into(),
            ))
        };
    }
    let existing = story::organizations(db).await?;
    if existing > 0 {
        return Err(DemoError::Refused(format!(
            "this database already holds {existing} organization(s) that are not the \
             demo's; `cadenza demo` only seeds an empty database"
        )));
    }
    std::fs::create_dir_all(scratch)?;
    let market = story::Story {
        api,
        db,
        options,
        scratch,
        progress,
    }
    .tell()
    .await?;
    Ok(Outcome::Seeded(market))
}

/// `cadenza demo`: the server's own settings (database, secret, mail), a private
/// loopback port, and the story.
pub fn run(mut settings: ServeSettings, options: DemoOptions) -> Result<(), String> {
    if settings.environment == Environment::Production {
        return Err("`cadenza demo` refuses to seed a production deployment \
                    (CADENZA_ENV=production)"
            .into());
    }
    settings.listen = ([127, 0, 0, 1], 0).into();
    // The mails the story causes stay queued for the `cadenza serve` that follows.
    settings.mail_worker = false;
    // The story sweeps once itself, at the moment it needs to.
    settings.sweep_interval_secs = 0;
    let scratch: PathBuf = settings.database.data_dir.clone();
    let url = settings.database.effective_database_url();
    actix_web::rt::System::new().block_on(async move {
        let started = Instant::now();
        let target = DatabaseTarget::parse(&url).map_err(|e| e.to_string())?;
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        let api = ApiClient::new(format!("http://{}", app.address()));
        let database = app.database().to_string();
        let server = app.server_handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let db = Db::connect(&target, 2).map_err(|e| e.to_string())?;
        let progress = |line: &str| println!("{line}");
        let outcome = seed(&api, &db, &options, &scratch, &progress).await;
        server.stop(true).await;
        match outcome.map_err(|e| e.to_string())? {
            Outcome::AlreadySeeded => {
                println!("The demo market is already seeded in {database}; nothing changed.\n");
            }
            Outcome::Seeded(market) => {
                println!(
                    "\nSeeded the demo market into {database} in {:.1} s.\n",
                    started.elapsed().as_secs_f64()
                );
                print_market(&market);
            }
        }
        print_logins();
        println!(
            "\nStart the API with `cadenza serve` (or `cargo run --release -- serve`) and \
             follow docs/guide.md."
        );
        Ok(())
    })
}

fn print_market(market: &Market) {
    println!("Catalogs:");
    for (name, id, tracks) in &market.catalogs {
        println!("  {name:<28} {tracks:>10} tracks  {id}");
    }
    println!("Slices:");
    for (name, id, tracks, of) in &market.slices {
        println!("  {name:<28} {tracks:>10} of {of} tracks  {id}");
    }
    println!("Offers:");
    for (title, by, status) in &market.offers {
        println!("  {status:<10} {title} ({by})");
    }
    println!("Requests:");
    for (title, by) in &market.requests {
        println!("  {title} ({by})");
    }
    println!("Deals:");
    for d in &market.deals {
        println!(
            "  {:<12} {} — licensor {}, licensee {}: {}",
            d.state, d.name, d.licensor, d.licensee, d.note
        );
    }
}

fn print_logins() {
    println!("Log in (POST /api/v1/auth/login) as:");
    println!(
        "  {:<20} {:<12} {:<26} {:<16} password",
        "organization", "role", "e-mail", "name"
    );
    for org in cast::ORGANIZATIONS {
        for m in org.members {
            println!(
                "  {:<20} {:<12} {:<26} {:<16} {}",
                org.name, m.role, m.email, m.name, m.password
            );
        }
    }
}
