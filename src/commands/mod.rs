//! One file per command: glue between the CLI, the library and the user. Only here (and in
//! `main.rs`) are errors `anyhow` and mapped to exit codes.

mod basis;
mod completions;
mod config_show;
mod demo;
mod doctor;
mod emulator;
mod export;
mod gains;
mod import;
mod label;
mod man;
mod paths;
mod prices;
mod rebuild;
mod report;
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
    write_out(text)
        .map_err(|e| Failure::bad(anyhow::Error::new(e).context("cannot write the output")))
}

/// [`out`] as an I/O result, for the callbacks a library function calls while it works (its
/// typed error then says "cannot write the output" with this as the source).
pub(crate) fn write_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Writes one line to stderr; a closed or failing stderr is ignored (there is nowhere left to
/// say it), never a panic.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The error for a command that needs an existing database.
pub(super) fn no_database(db: &std::path::Path) -> Failure {
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
pub(super) fn store_failure(db: &std::path::Path, e: StoreError) -> Failure {
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

impl Context {
    /// The shared settings, for the plans.
    pub fn common(&self) -> config::Common {
        config::Common {
            db: self.db.clone(),
            account: self.account.clone(),
            quiet: self.quiet,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    // Commands that need no config file (a broken one must not stop them).
    match &cli.command {
        Command::Completions(args) => return completions::run(args),
        Command::Man(args) => return man::run(args, cli.quiet),
        Command::Paths => return paths::run(),
        Command::Config => return config_show::run(&cli),
        _ => {}
    }
    let (file, config_error) = match config::load(cli.config.as_deref()) {
        Ok(file) => (file, None),
        // `doctor` reports a bad config file as one of its checks instead of stopping.
        Err(e) if matches!(cli.command, Command::Doctor(_)) => (FileConfig::default(), Some(e)),
        Err(e) => return Err(Failure::usage(e)),
    };
    let flags = config::CommonFlags {
        db: cli.db.clone(),
        account: cli.account.clone(),
        quiet: cli.quiet,
    };
    // For the disk-full explanation of a failure.
    let db_path = config::db_path(&flags, &file).ok();
    let resolve_ctx = |file: FileConfig| -> Result<Context, Failure> {
        let common = config::resolve_common(&flags, &file).map_err(Failure::usage)?;
        Ok(Context {
            db: common.db,
            account: common.account,
            file,
            quiet: common.quiet,
        })
    };
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
        Command::Status(args) => status::run(&resolve_ctx(file)?, args),
        Command::Rebuild(args) => rebuild::run(&resolve_ctx(file)?, args),
        Command::Export(args) => export::run(&resolve_ctx(file)?, args).await,
        Command::Report(args) => report::run(&resolve_ctx(file)?, args).await,
        Command::Demo(args) => demo::run(args, cli.quiet).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Verify(args) => verify::run(&resolve_ctx(file)?, args).await,
        Command::Import(args) => import::run(&resolve_ctx(file)?, args),
        Command::Doctor(args) => doctor::run(&resolve_ctx(file)?, args, config_error).await,
        Command::Prices(cmd) => prices::run(&resolve_ctx(file)?, cmd),
        Command::Gains(args) => gains::run(&resolve_ctx(file)?, args).await,
        Command::Basis(cmd) => basis::run(&resolve_ctx(file)?, cmd),
        Command::Label(args) => label::run(&resolve_ctx(file)?, args),
        // Answered by `run` before the config file is read; the same calls, for completeness.
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args, cli.quiet),
        Command::Paths => paths::run(),
        Command::Config => config_show::run(cli),
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

    fn parse(args: &[&str]) -> crate::cli::Command {
        use clap::Parser as _;
        crate::cli::Cli::try_parse_from([&["kraken-tax"], args].concat())
            .unwrap()
            .command
    }

    #[test]
    fn closed_sets_of_values_are_parsed_by_clap_into_types() {
        use crate::cli::Command;
        use crate::config::ExportFormat;
        use crate::export::FeeTreatment;
        let export = ["export", "--year", "2025", "--currency"];
        let given = [
            "gbp",
            "--fees",
            "gross",
            "--tz",
            "Europe/Berlin",
            "--format",
            "xml",
        ];
        let Command::Export(a) = parse(&[&export[..], &given].concat()) else {
            panic!("export")
        };
        assert_eq!(a.currency, Some(crate::domain::ReportCurrency::Gbp));
        assert_eq!(a.fees, Some(FeeTreatment::Gross));
        assert_eq!(a.tz, Some(chrono_tz::Europe::Berlin));
        assert_eq!(a.format, Some(vec![ExportFormat::Xml]));
        // Not given: left to the config file's [export] table, then the defaults.
        let Command::Export(a) = parse(&[&export[..], &["EUR"]].concat()) else {
            panic!("export")
        };
        assert_eq!((a.fees, a.tz, a.format, a.out), (None, None, None, None));
        let Command::Export(a) = parse(&[&export[..], &["EUR", "--format", "xml, csv"]].concat())
        else {
            panic!("export")
        };
        assert_eq!(a.format, Some(vec![ExportFormat::Xml, ExportFormat::Csv]));
        let Command::Sync(a) = parse(&["sync", "--backfill", "auto", "--max-duration", "1h30m"])
        else {
            panic!("sync")
        };
        assert_eq!(a.backfill, crate::sync::BackfillMode::Auto);
        assert_eq!(a.max_duration, Some(std::time::Duration::from_secs(5400)));
    }

    #[test]
    fn values_outside_the_closed_sets_are_usage_errors_naming_the_choices() {
        use clap::Parser as _;
        let refused = |args: &[&str]| {
            let e = crate::cli::Cli::try_parse_from([&["kraken-tax"], args].concat()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            e.to_string()
        };
        let base = ["export", "--year", "2025", "--currency"];
        let err = refused(&[&base[..], &["XBT"]].concat());
        assert!(
            err.contains("unsupported reporting currency \"XBT\": use one of EUR, USD, GBP, CHF, CAD, AUD, JPY"),
            "{err}"
        );
        let err = refused(&[&base[..], &["EUR", "--fees", "half"]].concat());
        assert!(err.contains("[possible values: net, gross]"), "{err}");
        let err = refused(&[&base[..], &["EUR", "--format", "csv,pdf"]].concat());
        assert!(err.contains("[possible values: csv, xml]"), "{err}");
        let err = refused(&[&base[..], &["EUR", "--tz", "Mars/Base"]].concat());
        assert!(
            err.contains("unknown time zone \"Mars/Base\" for --tz"),
            "{err}"
        );
        let err = refused(&["sync", "--backfill", "bulk"]);
        assert!(
            err.contains("[possible values: none, export, auto]"),
            "{err}"
        );
        let err = refused(&["sync", "--max-duration", "20"]);
        assert!(err.contains("use e.g. 20m or 1h30m"), "{err}");
    }

    /// Longest function allowed in `src/commands/`: commands are glue.
    const MAX_COMMAND_FN_LINES: usize = 60;

    /// Each `fn` of `text` with its length in lines, from the `fn` line to the closing brace
    /// at the same indentation (rustfmt's layout); an unclosed one counts as endless.
    fn function_lengths(text: &str) -> Vec<(String, usize)> {
        const PREFIXES: [&str; 6] = [
            "pub(super) ",
            "pub(crate) ",
            "pub ",
            "async ",
            "const ",
            "unsafe ",
        ];
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let mut sig = body;
            while let Some(rest) = PREFIXES.iter().find_map(|p| sig.strip_prefix(p)) {
                sig = rest;
            }
            let Some(rest) = sig.strip_prefix("fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if body.ends_with(';') || body.ends_with('}') {
                out.push((name, 1));
                continue;
            }
            let close = format!("{indent}}}");
            let len = lines[i + 1..]
                .iter()
                .position(|l| *l == close)
                .map_or(usize::MAX, |p| p + 2);
            out.push((name, len));
        }
        out
    }

    #[test]
    fn the_length_check_counts_from_fn_to_its_closing_brace() {
        let body = "    let x = 1;\n".repeat(59);
        let text = format!(
            "fn short() {{ 1 }}\npub(super) async fn exact(\n    a: u8,\n) {{\n{}}}\n\nmod m {{\n    pub fn nested() {{\n        if x {{\n        }}\n    }}\n}}\nfn open() {{\n",
            "    let x = 1;\n".repeat(56)
        );
        assert_eq!(
            function_lengths(&text),
            [
                ("short".to_owned(), 1),
                ("exact".to_owned(), 60),
                ("nested".to_owned(), 4),
                ("open".to_owned(), usize::MAX)
            ]
        );
        let long = format!("fn long() {{\n{body}}}\n");
        assert_eq!(function_lengths(&long), [("long".to_owned(), 61)]);
    }

    #[test]
    fn every_function_in_src_commands_is_at_most_60_lines() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let mut files = 0;
        let mut long = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (name, n) in function_lengths(&text) {
                if n > MAX_COMMAND_FN_LINES {
                    long.push(format!("{}: fn {name}: {n} lines", path.display()));
                }
            }
        }
        assert!(files >= 10, "read {files} files of {}", dir.display());
        assert!(
            long.is_empty(),
            "longer than {MAX_COMMAND_FN_LINES} lines: {long:#?}"
        );
    }
}
