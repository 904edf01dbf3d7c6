//! kraken-tax: parse the command line, set up logging and the runtime, run, map to an exit code.

use clap::Parser;
use kraken_tax::cli::Cli;
use kraken_tax::commands;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let ansi = cli.color.enabled(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    );
    if let Err(e) = init_logging(default_level, cli.verbose, cli.log_file.as_deref(), ansi) {
        commands::note(&format!("error: {e:#}"));
        return ExitCode::from(commands::EXIT_USAGE);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            commands::note(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(commands::EXIT_FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::from(commands::EXIT_OK),
        Err(f) => {
            commands::note(&format!("error: {}", f.render()));
            ExitCode::from(f.code)
        }
    }
}

/// Logs to stderr at `default_level` (RUST_LOG wins when set), and with `--log-file` also
/// appends to that file with times, at info level at least whatever -q says.
fn init_logging(
    default_level: &str,
    verbose: u8,
    log_file: Option<&std::path::Path>,
    ansi: bool,
) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("kraken_tax={default_level},warn")));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        // A closed stderr must not turn a log line into a panic.
        .log_internal_errors(false)
        .with_filter(filter);
    let file_layer = match log_file {
        None => None,
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?;
            let level = if verbose >= 2 { "debug" } else { "info" };
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .with_target(false)
                    .log_internal_errors(false)
                    .with_filter(EnvFilter::new(format!("kraken_tax={level},warn"))),
            )
        }
    };
    tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .init();
    Ok(())
}
