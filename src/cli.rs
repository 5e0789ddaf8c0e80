//! The command line: `cadenza serve`, `cadenza migrate`, … Each subcommand
//! reads its settings from flags or environment variables (see `--help`).

use std::process::ExitCode;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::Application;
use crate::config::{DatabaseSettings, LogFormat, ServeSettings, WorkerSettings};
use crate::db::{outbox, DatabaseTarget, Db};
use crate::import::ImportFormat;
use crate::mail::{Transport, Worker, WorkerConfig};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "cadenza",
    version,
    about = "Copyright sublicensing marketplace between music platforms"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (with migrations applied at start).
    Serve(ServeSettings),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseSettings),
    /// Import a CSV or NDJSON file of tracks into a catalog, with a progress bar.
    Import(ImportArgs),
    /// Write a synthetic catalog (realistic labels, artists, genres, dates, valid ISRCs).
    GenerateCatalog(GenerateArgs),
    /// Measure performance; results go to docs/performance.md.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Deliver mail from the outbox, without serving HTTP (run any number of them on
    /// PostgreSQL; set CADENZA_MAIL_WORKER=false on the `serve` nodes then).
    Worker(WorkerSettings),
    /// Seed a demo market (four organizations, their teams, catalogs, offers, requests
    /// and deals in every state) through the API; refuses a database holding other data.
    Demo(DemoArgs),
    /// Inspect and repair mail delivery.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// The tamper-evident audit trail (docs/audit.md).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk every organization's audit chain (and the platform chain) and report the
    /// first broken link of each by event id; exits non-zero if any chain is broken.
    Verify {
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The catalog's id.
    #[arg(long)]
    pub catalog: String,
    /// `csv`, `ndjson`, `ern` (one DDEX ERN message) or `ern-archive` (a tar or
    /// .tar.gz of messages); default: from the file extension (`.xml`, `.tar`,
    /// `.tar.gz`/`.tgz`), and a folder is read as ERN messages (every `.xml` in it).
    #[arg(long, value_parser = ["csv", "ndjson", "ern", "ern-archive"])]
    pub format: Option<String>,
    /// Write the full JSON report (every rejected row) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The file to import (or a folder of ERN messages).
    pub file: PathBuf,
    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Tracks in Aurora Music's generated catalog (15000000 for the full scale).
    #[arg(long, default_value_t = 150_000)]
    pub tracks: u64,
    /// Seed of the catalog generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub settings: ServeSettings,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many tracks.
    #[arg(long, default_value_t = 150_000)]
    pub tracks: u64,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_parser = ["csv", "ndjson"], default_value = "csv")]
    pub format: String,
    /// Output file (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Import, slice, list and query a generated catalog; prints a Markdown table.
    Catalog {
        #[arg(long, default_value_t = 1_000_000)]
        tracks: u64,
        /// Where to run (default: a fresh SQLite file in a temporary directory).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Time the executing signature of an exclusive deal against existing grants.
    Signing {
        #[arg(long, default_value_t = 15_000_000)]
        tracks: u64,
        /// Existing grants whose rights windows overlap the deal's, spread
        /// over three catalogs of the licensor.
        #[arg(long, default_value_t = 1_000)]
        grants: usize,
        /// Grants the licensor received from another platform.
        #[arg(long, default_value_t = 100)]
        received: usize,
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Where to run (default: a fresh SQLite file in a temporary directory).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// What refusing unstorable input costs a JSON body (typed parse vs. checked parse).
    Input,
    /// Import a batch of generated DDEX ERN messages (about 15 recordings each)
    /// through the HTTP API, and the CSV of the same recordings; prints both times.
    DdexImport {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Give each album's deal a start day of its own (one delivered holding per
        /// album) instead of one deal shared by all.
        #[arg(long)]
        deal_per_album: bool,
        /// Where to run (default: a fresh SQLite file in a temporary directory).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Read a generated usage report of N per-ISRC rows and compute its statement.
    Royalties {
        #[arg(long, default_value_t = 1_500_000)]
        rows: u64,
        /// Where the stored upload runs (default: a fresh SQLite file in a temporary directory)
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Seed a marketplace for the browse load test: N platforms, each with a catalog of
    /// generated tracks and published offers (see docs/performance.md).
    SeedMarketplace {
        /// Where to write (an empty or migrated database).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 50)]
        organizations: usize,
        #[arg(long, default_value_t = 300_000)]
        tracks_per_catalog: u64,
        #[arg(long, default_value_t = 20)]
        offers_per_organization: usize,
        /// Password of every seeded owner, bench+NN@cadenza.test.
        #[arg(long, default_value = "bench-password-1")]
        password: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Counts by state, the oldest pending mail, and the dead letters with their errors.
    Status {
        #[command(flatten)]
        database: DatabaseSettings,
        /// How many dead letters to list (newest first).
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Queue dead letters again with a fresh set of attempts.
    RetryDead {
        #[command(flatten)]
        database: DatabaseSettings,
        /// Only these outbox ids (as listed by `cadenza mail status`); default: every dead letter.
        #[arg(long = "id")]
        ids: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(settings) => serve(settings),
        Command::Migrate(settings) => migrate(&settings),
        Command::Import(args) => import_file(&args),
        Command::GenerateCatalog(args) => generate(&args),
        Command::Bench(BenchCommand::Catalog {
            tracks,
            database_url,
        }) => bench_catalog(tracks, database_url),
        Command::Bench(BenchCommand::Signing {
            tracks,
            grants,
            received,
            runs,
            database_url,
        }) => bench_in_temp_dir(database_url, |url, dir, out| {
            crate::bench::run_signing_bench(url, tracks, grants, received, runs.max(1), dir, out)
        }),
        Command::Bench(BenchCommand::Royalties { rows, database_url }) => {
            bench_in_temp_dir(database_url, |url, dir, out| {
                crate::bench::run_royalties_bench(url, rows, dir, out)
            })
        }
        Command::Bench(BenchCommand::DdexImport {
            messages,
            deal_per_album,
            database_url,
        }) => bench_in_temp_dir(database_url, |url, dir, out| {
            let settings = bench_server_settings(url, dir)?;
            let deals = if deal_per_album {
                crate::bench::ddex::Deals::PerAlbum
            } else {
                crate::bench::ddex::Deals::Shared
            };
            crate::bench::run_ddex_bench(settings, messages, deals, dir, out)
        }),
        Command::Bench(BenchCommand::Input) => {
            crate::bench::run_input_bench(&mut std::io::stdout()).map_err(|e| e.to_string())
        }
        Command::Bench(BenchCommand::SeedMarketplace {
            database_url,
            organizations,
            tracks_per_catalog,
            offers_per_organization,
            password,
        }) => crate::bench::seed_marketplace(
            &database_url,
            &crate::bench::MarketSeed {
                organizations,
                tracks_per_catalog,
                offers_per_organization,
                password,
            },
            &mut std::io::stdout(),
        )
        .map_err(|e| e.to_string()),
        Command::Worker(settings) => worker(settings),
        // No request logs: the demo prints its own story.
        Command::Demo(args) => crate::demo::run(
            args.settings,
            crate::demo::DemoOptions {
                tracks: args.tracks,
                seed: args.seed,
            },
        ),
        Command::Mail { command } => mail(command),
        Command::Audit {
            command: AuditCommand::Verify { database },
        } => audit_verify(&database, &mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: ServeSettings) -> Result<(), String> {
    telemetry::init(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let rules_file = settings.market_rules_file.clone();
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        let rules = app.market_rules();
        let market_rules = match &rules_file {
            Some(path) if !path.as_os_str().is_empty() => format!(
                "{} rule(s) from {}, ruleset version {}",
                rules.len(),
                path.display(),
                rules.version()
            ),
            _ => "none (CADENZA_MARKET_RULES is not set)".to_string(),
        };
        println!(
            "Cadenza is listening on http://{addr} (API under /api/v1, OpenAPI at \
             http://{addr}/api/openapi.json, health at /health and /ready)\nData: {db}\nMail: {mail}\n\
             Market rules: {market_rules}",
            addr = app.address(),
            db = app.database(),
            mail = app
                .mail_transport()
                .unwrap_or_else(|| "delivered by separate `cadenza worker` processes".into())
        );
        tracing::info!(
            address = %app.address(),
            database = app.database(),
            market_rules = rules.len(),
            market_rules_version = rules.version(),
            "serving"
        );
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn migrate(settings: &DatabaseSettings) -> Result<(), String> {
    telemetry::init(LogFormat::Text);
    let target =
        DatabaseTarget::parse(&settings.effective_database_url()).map_err(|e| e.to_string())?;
    // Connecting applies pending migrations; report how the schema stands.
    Db::connect(&target, 1).map_err(|e| e.to_string())?;
    println!("{}: schema is up to date", target.describe());
    Ok(())
}

fn format_of(name: Option<&str>, path: &std::path::Path) -> Result<ImportFormat, String> {
    match name {
        Some("csv") => Ok(ImportFormat::Csv),
        Some("ndjson") => Ok(ImportFormat::Ndjson),
        Some("ern") => Ok(ImportFormat::Ern),
        Some("ern-archive") => Ok(ImportFormat::ErnArchive),
        _ if path.is_dir() => Ok(ImportFormat::ErnArchive),
        _ => ImportFormat::from_path(path).ok_or_else(|| {
            format!(
                "cannot tell the format of {}: pass --format csv, ndjson, ern or ern-archive",
                path.display()
            )
        }),
    }
}

fn import_file(args: &ImportArgs) -> Result<(), String> {
    telemetry::init(LogFormat::Text);
    let format = format_of(args.format.as_deref(), &args.file)?;
    let db = connect(&args.database, 1)?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let catalog = crate::db::catalogs::find_catalog(&mut conn, &args.catalog)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no catalog {}", args.catalog))?;
    let (input, len): (Box<dyn std::io::Read + Send>, u64) = if args.file.is_dir() {
        // A folder of messages goes through the batch reader as a tar built on the fly.
        let (reader, len) = crate::import::ern_folder::tar_of_folder(&args.file)
            .map_err(|e| format!("{}: {e}", args.file.display()))?;
        (Box::new(reader), len)
    } else {
        let file =
            std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(file), len)
    };
    let mut progress = crate::bench::file_progress(len);
    let report = crate::import::import_tracks(
        &mut conn,
        &catalog,
        None,
        std::io::BufReader::with_capacity(1 << 20, input),
        format,
        chrono::Utc::now().date_naive(),
        &mut progress,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "\nimported {} tracks, skipped {} already in the catalog, rejected {} rows; the catalog now holds {} tracks",
        report.imported, report.skipped_existing, report.rejected_rows, report.catalog_track_count
    );
    if let Some(holdings) = &report.holdings {
        println!(
            "holdings from ERN deals: {} set, {} ended, {} release(s) taken down, {} grant(s) marked",
            holdings.holdings_set,
            holdings.holdings_ended,
            holdings.releases_taken_down,
            holdings.grants_marked
        );
    }
    for row in report.rejected.iter().take(20) {
        let place = match (&row.document, &row.element) {
            (Some(document), Some(element)) => format!("{document} line {} {element}", row.line),
            (None, Some(element)) => format!("line {} {element}", row.line),
            _ => format!("line {}", row.line),
        };
        println!("  {place}: {}: {}", row.field, row.message);
    }
    if report.rejected.len() > 20 {
        println!(
            "  … {} more (use --report FILE for all)",
            report.rejected.len() - 20
        );
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn generate(args: &GenerateArgs) -> Result<(), String> {
    let format = format_of(Some(&args.format), std::path::Path::new(""))?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut out);
    crate::import::generate::generate_catalog(&mut buffered, args.tracks, args.seed, format)
        .map_err(|e| e.to_string())?;
    buffered.flush().map_err(|e| e.to_string())
}

fn bench_catalog(tracks: u64, database_url: Option<String>) -> Result<(), String> {
    bench_in_temp_dir(database_url, |url, dir, out| {
        crate::bench::run_catalog_bench(url, tracks, dir, out)
    })
}

/// Server settings for a benchmark that goes through the HTTP API: the defaults of
/// `cadenza serve` (environment variables apply), on the bench's database and
/// scratch directory.
fn bench_server_settings(
    url: &str,
    dir: &std::path::Path,
) -> Result<ServeSettings, crate::bench::BenchError> {
    #[derive(Parser)]
    struct Server {
        #[command(flatten)]
        settings: ServeSettings,
    }
    let dir = dir.display().to_string();
    Server::try_parse_from(["bench", "--database-url", url, "--data-dir", &dir])
        .map(|s| s.settings)
        .map_err(|e| crate::bench::BenchError::Setup(e.to_string()))
}

/// Runs a benchmark with a scratch directory (and a scratch SQLite file unless a
/// database URL is given), printing its Markdown report.
fn bench_in_temp_dir(
    database_url: Option<String>,
    run: impl FnOnce(&str, &std::path::Path, &mut dyn Write) -> Result<(), crate::bench::BenchError>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("cadenza-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let mut stdout = std::io::stdout();
    let result = run(&url, &dir, &mut stdout).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn connect(settings: &DatabaseSettings, pool_size: u32) -> Result<Db, String> {
    let target =
        DatabaseTarget::parse(&settings.effective_database_url()).map_err(|e| e.to_string())?;
    Db::connect(&target, pool_size).map_err(|e| e.to_string())
}

fn worker(settings: WorkerSettings) -> Result<(), String> {
    telemetry::init(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let db = connect(&settings.database, 2)?;
        let transport = Transport::from_settings(&settings.mail, &settings.database.data_dir)
            .map_err(|e| e.to_string())?;
        let config = WorkerConfig::from_settings(&settings.mail, &settings.public_url)
            .map_err(|e| e.to_string())?;
        println!(
            "Cadenza mail worker: delivering to {}",
            transport.describe()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        Worker::new(db, transport, config).run(stopped).await;
        Ok(())
    })
}

/// SIGINT or SIGTERM: the worker finishes the mail in hand and exits.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn mail(command: MailCommand) -> Result<(), String> {
    telemetry::init(LogFormat::Text);
    match command {
        MailCommand::Status { database, limit } => {
            let db = connect(&database, 1)?;
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            let status = outbox::status(&mut conn, limit.max(0)).map_err(|e| e.to_string())?;
            println!(
                "pending: {} (of which tried at least once: {})\nsent: {}\ndead: {}",
                status.pending, status.tried, status.sent, status.dead
            );
            match status.oldest_pending_at {
                Some(at) => println!("oldest pending: queued {at} UTC"),
                None => println!("oldest pending: none"),
            }
            if !status.dead_letters.is_empty() {
                println!("\ndead letters (newest first):");
                for mail in &status.dead_letters {
                    println!(
                        "  {id}  {template} to {to}, queued {queued} UTC, {attempts} attempts\n    error: {error}",
                        id = mail.id,
                        template = mail.template,
                        to = mail.recipient_email,
                        queued = mail.created_at,
                        attempts = mail.attempts,
                        error = mail.last_error.as_deref().unwrap_or("(none recorded)")
                    );
                }
                println!("\nRetry them with `cadenza mail retry-dead` (or `--id ID` for some).");
            }
            Ok(())
        }
        MailCommand::RetryDead { database, ids } => {
            let db = connect(&database, 1)?;
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            let ids = (!ids.is_empty()).then_some(ids.as_slice());
            let revived =
                outbox::retry_dead(&mut conn, ids, crate::db::now()).map_err(|e| e.to_string())?;
            println!("{revived} dead letter(s) queued again");
            Ok(())
        }
    }
}

/// `cadenza audit verify`: one line per chain; an error (non-zero exit) naming how many
/// chains are broken when any is.
pub fn audit_verify(database: &DatabaseSettings, out: &mut dyn Write) -> Result<(), String> {
    // A plain connection: verifying never migrates, and never runs the startup backfill
    // (which would chain rows written around the chain instead of reporting them).
    let target =
        DatabaseTarget::parse(&database.effective_database_url()).map_err(|e| e.to_string())?;
    let mut conn = crate::db::ConnectionManager::new(target)
        .establish()
        .map_err(|e| e.to_string())?;
    let reports = crate::db::audit::verify_all(&mut conn).map_err(|e| e.to_string())?;
    let mut broken = 0usize;
    let mut events = 0u64;
    for report in &reports {
        let chain = match &report.organization_id {
            Some(id) => format!("organization {id}"),
            None => "platform".to_string(),
        };
        let line = match &report.outcome {
            Ok(intact) => {
                events += intact.events;
                format!(
                    "ok      {chain}: {} events, head {}",
                    intact.events,
                    intact.head.as_ref().map_or("(none)", |h| h.hash.as_str())
                )
            }
            Err(link) => {
                broken += 1;
                format!(
                    "BROKEN  {chain}: first broken link at event {} (seq {}): {}",
                    link.id.as_deref().unwrap_or("(no event left)"),
                    link.seq.map_or("-".to_string(), |s| s.to_string()),
                    link.breach
                )
            }
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    if broken > 0 {
        Err(format!(
            "{broken} of {} audit chain(s) broken",
            reports.len()
        ))
    } else {
        writeln!(
            out,
            "{} audit chain(s) intact, {events} events",
            reports.len()
        )
        .map_err(|e| e.to_string())
    }
}
