//! One file per command: glue between the CLI, the library and the user. Only here (and in
//! `main.rs`) are errors `anyhow` and mapped to exit codes.

mod demo;
mod doctor;
mod emulator;
mod export;
mod import;
mod prices;
mod rebuild;
mod status;
mod sync;
mod verify;

use crate::cli::{Cli, Command};
use crate::config::{self, FileConfig};
use std::path::PathBuf;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Failure: bad data, a bug.
pub const EXIT_FAILURE: u8 = 1;
/// Usage or configuration error: bad flag, missing key, refused key file.
pub const EXIT_USAGE: u8 = 2;
/// Temporary failure, retry later; progress is kept.
pub const EXIT_TEMPFAIL: u8 = 75;

/// A command that failed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// Process exit code.
    pub code: u8,
    /// What went wrong; printed as one line.
    pub error: anyhow::Error,
}

impl Failure {
    /// Exit 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }
    /// Exit 75.
    pub fn temporary(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_TEMPFAIL,
            error: error.into(),
        }
    }
    /// Exit 1.
    pub fn bad(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_FAILURE,
            error: error.into(),
        }
    }
}

/// Settings every command shares.
#[derive(Debug)]
pub struct Context {
    /// The database file.
    pub db: PathBuf,
    /// The account name.
    pub account: String,
    /// The config file's settings.
    pub file: FileConfig,
    /// `-q`: nothing but errors.
    pub quiet: bool,
}

/// The API URL: `--api-url`, else the config's `[sync] api_url`, else Kraken's.
fn api_url_text<'a>(flag: Option<&'a str>, ctx: &'a Context) -> &'a str {
    flag.or(ctx.file.sync.api_url.as_deref())
        .unwrap_or(crate::kraken::DEFAULT_API_URL)
}

/// [`api_url_text`], parsed; a bad URL is a usage error.
fn api_url(flag: Option<&str>, ctx: &Context) -> Result<url::Url, Failure> {
    crate::kraken::parse_api_url(api_url_text(flag, ctx)).map_err(Failure::usage)
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let (file, config_error) = match config::load(cli.config.as_deref()) {
        Ok(file) => (file, None),
        // `doctor` reports a bad config file as one of its checks instead of stopping.
        Err(e) if matches!(cli.command, Command::Doctor(_)) => (FileConfig::default(), Some(e)),
        Err(e) => return Err(Failure::usage(e)),
    };
    let resolve_ctx = |file: FileConfig| -> Result<Context, Failure> {
        let db = match cli.db.clone().or_else(|| file.db.clone()) {
            Some(p) => p,
            None => config::default_db_path().map_err(Failure::usage)?,
        };
        let account = cli
            .account
            .clone()
            .or_else(|| file.account.clone())
            .unwrap_or_else(|| "default".to_owned());
        if account.is_empty() || account.len() > 64 || account.chars().any(char::is_control) {
            return Err(Failure::usage(anyhow::anyhow!(
                "invalid account name {account:?}: use 1 to 64 printable characters"
            )));
        }
        Ok(Context {
            db,
            account,
            file,
            quiet: cli.quiet,
        })
    };
    match &cli.command {
        Command::Sync(args) => sync::run(&resolve_ctx(file)?, args).await,
        Command::Status => status::run(&resolve_ctx(file)?),
        Command::Rebuild => rebuild::run(&resolve_ctx(file)?),
        Command::Export(args) => export::run(&resolve_ctx(file)?, args).await,
        Command::Demo(args) => demo::run(args, cli.quiet).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Verify(args) => verify::run(&resolve_ctx(file)?, args).await,
        Command::Import(args) => import::run(&resolve_ctx(file)?, args),
        Command::Doctor(args) => doctor::run(&resolve_ctx(file)?, args, config_error).await,
        Command::Prices(cmd) => prices::run(&resolve_ctx(file)?, cmd),
    }
}
