//! kraken-tax: parse the command line, set up logging and the runtime, run, map to an exit code.

use clap::Parser;
use kraken_tax::cli::Cli;
use kraken_tax::commands;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

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
    // RUST_LOG wins when set; our own crate's level otherwise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("kraken_tax={default_level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cli.color.enabled(
            std::env::var_os("NO_COLOR").as_deref(),
            std::io::stderr().is_terminal(),
        ))
        .with_target(false)
        .without_time()
        // A closed stderr must not turn a log line into a panic.
        .log_internal_errors(false)
        .init();

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
