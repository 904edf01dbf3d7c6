//! One file per command: glue between the CLI, the library and the user. Only here (and in
//! `main.rs`) are errors `anyhow` and mapped to exit codes.

mod basis;
mod demo;
mod doctor;
mod emulator;
mod export;
mod gains;
mod import;
mod label;
mod prices;
mod rebuild;
mod status;
mod sync;
mod verify;

use crate::cli::{Cli, Command};
use crate::config::{self, FileConfig};
use crate::store::{Store, StoreError};
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

impl Failure {
    /// The one line printed for this failure: the error and its causes, each said once (a
    /// wrapper whose text already includes its cause's text does not repeat it).
    pub fn render(&self) -> String {
        render_chain(&self.error)
    }
}

/// `error: cause: cause…` without repeating a cause already said by the text before it.
pub fn render_chain(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Writes `text` to stdout. A closed pipe (`kraken-tax status | head -1`) ends the output
/// quietly; any other write failure (disk full behind `>`) fails the command.
pub(crate) fn out(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::bad(anyhow::anyhow!(
            "cannot write the output: {e}"
        ))),
    }
}

/// Writes one line to stderr; a closed or failing stderr is ignored (there is nowhere left to
/// say it), never a panic.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The error for a command that needs an existing database.
fn no_database(db: &std::path::Path) -> Failure {
    Failure::usage(anyhow::anyhow!(
        "no database at {}: run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --db PATH",
        db.display()
    ))
}

/// Opens and checks the database of `ctx` (see [`Store::open_checked`]); with `must_exist`,
/// a missing file is a usage error instead of a new database.
fn open_store(ctx: &Context, must_exist: bool) -> Result<Store, Failure> {
    if must_exist && !ctx.db.exists() {
        return Err(no_database(&ctx.db));
    }
    Store::open_checked(&ctx.db).map_err(|e| store_failure(&ctx.db, e))
}

/// A database failure as a command failure naming the file: busy is "retry later" (75),
/// anything else exit 1.
fn store_failure(db: &std::path::Path, e: StoreError) -> Failure {
    let busy = matches!(&e, StoreError::Sqlite(s) if matches!(
        s.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    ));
    let error = match e {
        // Already names the file.
        StoreError::Open { .. } => anyhow::Error::new(e),
        e => anyhow::anyhow!("{}: {e}", db.display()),
    };
    if busy {
        Failure::temporary(error)
    } else {
        Failure::bad(error)
    }
}

/// When a failure comes from an I/O error or a full disk, says which: the free space of the
/// file system holding `db` tells a full disk from another I/O error, which SQLite reports
/// alike.
fn explain_disk(f: Failure, db: &std::path::Path) -> Failure {
    let io = f.error.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_io)
    });
    if !io {
        return f;
    }
    match disk_full_sentence(db, free_space(db)) {
        Some(sentence) => Failure {
            code: f.code,
            error: anyhow::anyhow!(sentence),
        },
        None => f,
    }
}

/// "The disk is full" when less than 1 MiB is left for this user.
fn disk_full_sentence(db: &std::path::Path, free: Option<u64>) -> Option<String> {
    let free = free?;
    (free < 1024 * 1024).then(|| {
        format!(
            "{}: the disk is full ({free} bytes free); free some space and run the command again (what was stored before is kept)",
            db.display()
        )
    })
}

/// Bytes available to this user on the file system holding `path`.
pub(crate) fn free_space(path: &std::path::Path) -> Option<u64> {
    let dir: PathBuf = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let s = rustix::fs::statvfs(&dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
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

/// [`api_url_text`], parsed; a bad URL is a usage error, and so is one with a path, query or
/// fragment (the client adds `/0/private/...` itself: a path would be silently dropped or
/// doubled).
fn api_url(flag: Option<&str>, ctx: &Context) -> Result<url::Url, Failure> {
    parse_base_url(api_url_text(flag, ctx)).map_err(Failure::usage)
}

/// [`crate::kraken::parse_api_url`], also refusing a path, query or fragment.
fn parse_base_url(text: &str) -> Result<url::Url, crate::kraken::client::ApiUrlError> {
    let url = crate::kraken::parse_api_url(text)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(crate::kraken::client::ApiUrlError {
            url: text.to_owned(),
            reason: "give the base URL only, without a path, such as https://api.kraken.com",
        });
    }
    Ok(url)
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
    // For the disk-full explanation of a failure.
    let db_path = cli
        .db
        .clone()
        .or_else(|| file.db.clone())
        .or_else(|| config::default_db_path().ok());
    let result = dispatch(&cli, file, resolve_ctx, config_error).await;
    match (result, db_path) {
        (Err(f), Some(db)) => Err(explain_disk(f, &db)),
        (result, _) => result,
    }
}

async fn dispatch(
    cli: &Cli,
    file: FileConfig,
    resolve_ctx: impl FnOnce(FileConfig) -> Result<Context, Failure>,
    config_error: Option<config::ConfigError>,
) -> Result<(), Failure> {
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
        Command::Gains(args) => gains::run(&resolve_ctx(file)?, args).await,
        Command::Basis(cmd) => basis::run(&resolve_ctx(file)?, cmd),
        Command::Label(args) => label::run(&resolve_ctx(file)?, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn a_cause_already_said_is_not_repeated() {
        // A wrapper that prints its cause and also names it as its source (`#[error("{0}")]`
        // with `#[from]`) said everything twice: "X: X".
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(Wrapper(io)).context("cannot use lock file /x.lock");
        assert_eq!(
            render_chain(&e),
            "cannot use lock file /x.lock: No such file or directory"
        );
        let e = anyhow::anyhow!("inner").context("outer: inner");
        assert_eq!(render_chain(&e), "outer: inner");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(render_chain(&e), "outer: inner");
    }

    #[test]
    fn an_io_error_on_a_full_disk_is_called_a_full_disk() {
        let db = std::path::Path::new("/data/k.sqlite");
        assert_eq!(
            disk_full_sentence(db, Some(4096)).as_deref(),
            Some(
                "/data/k.sqlite: the disk is full (4096 bytes free); free some space and run the command again (what was stored before is kept)"
            )
        );
        assert_eq!(disk_full_sentence(db, Some(10 << 20)), None);
        assert_eq!(disk_full_sentence(db, None), None);
    }

    #[test]
    fn store_failures_name_the_file_once_and_busy_is_retry_later() {
        let db = std::path::Path::new("/data/k.sqlite");
        let busy = StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ));
        let f = store_failure(db, busy);
        assert_eq!(f.code, EXIT_TEMPFAIL);
        assert_eq!(
            f.render(),
            "/data/k.sqlite: the database is busy: another kraken-tax process is writing to it; try again later"
        );
        let open = StoreError::Open {
            path: db.to_owned(),
            detail: "permission denied".to_owned(),
        };
        let f = store_failure(db, open);
        assert_eq!(f.code, EXIT_FAILURE);
        assert_eq!(
            f.render(),
            "cannot open database /data/k.sqlite: permission denied"
        );
    }
}
