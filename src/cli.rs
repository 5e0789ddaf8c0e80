//! The command line: `cadenza serve`, `cadenza migrate`, … Each subcommand
//! reads its settings from flags or environment variables (see `--help`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::Application;
use crate::config::{DatabaseSettings, LogFormat, ServeSettings, WorkerSettings};
use crate::db::{outbox, DatabaseTarget, Db};
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
    /// Deliver mail from the outbox, without serving HTTP (run any number of them on
    /// PostgreSQL; set CADENZA_MAIL_WORKER=false on the `serve` nodes then).
    Worker(WorkerSettings),
    /// Inspect and repair mail delivery.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
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
        Command::Worker(settings) => worker(settings),
        Command::Mail { command } => mail(command),
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
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        println!(
            "Cadenza is listening on http://{addr} (API under /api/v1, OpenAPI at \
             http://{addr}/api/openapi.json, health at /health and /ready)\nData: {db}\nMail: {mail}",
            addr = app.address(),
            db = app.database(),
            mail = app
                .mail_transport()
                .unwrap_or_else(|| "delivered by separate `cadenza worker` processes".into())
        );
        tracing::info!(address = %app.address(), database = app.database(), "serving");
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
