//! The command line: `cadenza serve`, `cadenza migrate`, … Each subcommand
//! reads its settings from flags or environment variables (see `--help`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::Application;
use crate::config::{DatabaseSettings, LogFormat, ServeSettings};
use crate::db::{DatabaseTarget, Db};
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(settings) => serve(settings),
        Command::Migrate(settings) => migrate(&settings),
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
             http://{addr}/api/openapi.json, health at /health and /ready)\nData: {db}",
            addr = app.address(),
            db = app.database()
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
