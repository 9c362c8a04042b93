//! The `transcendence` binary: `serve` (the default), `migrate`, or
//! `seed-users` (bulk users for load tests).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use transcendence::app::Application;
use transcendence::config::Settings;
use transcendence::{db, telemetry};

#[derive(Parser)]
#[command(version, about = "Backend of an online Pong platform")]
struct Cli {
    /// Development mode: a generated JWT secret kept in DATA_DIR and a local
    /// default database (same as APP_ENV=dev). Never in production.
    #[arg(long, global = true)]
    dev: bool,
    /// A TOML file of settings; the environment overrides it.
    #[arg(long, global = true, value_name = "FILE", env = "CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed, migrate it, and serve (the default).
    Serve,
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
    /// Create load-test users in bulk, each with a login session, and print
    /// `id username access_token` per line (for `loadgen --tokens`).
    SeedUsers {
        /// How many users.
        #[arg(long)]
        count: usize,
        /// Usernames are this prefix and a number.
        #[arg(long, default_value = "load")]
        prefix: String,
        /// The password they all share.
        #[arg(long, default_value = "load-test password")]
        password: String,
        /// Write the lines here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), cli.dev) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("transcendence: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    if settings.dev_mode {
        tracing::warn!("dev mode: generated JWT secret, not for production");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::SeedUsers {
            count,
            prefix,
            password,
            out,
        } => seed_users(&settings, count, &prefix, &password, out).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("transcendence: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.dev_mode {
        let web_dir = settings.web_dir.clone();
        tokio::task::spawn_blocking(move || transcendence::http::webapp::build_for_dev(&web_dir))
            .await?;
    }
    transcendence::http::webapp::check_built(&settings.web_dir);
    let app = Application::build(settings).await?;
    app.shutdown().on_signals();
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn seed_users(
    settings: &Settings,
    count: usize,
    prefix: &str,
    password: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut sink: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    transcendence::admin::seed_users(settings, count, prefix, password, &mut sink).await?;
    sink.flush()?;
    Ok(())
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url.expose_secret();
    db::create_database_if_missing(url).await?;
    let applied = db::run_migrations(url).await?;
    tracing::info!(migrations = ?applied, "database is up to date");
    Ok(())
}
