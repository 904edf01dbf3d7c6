//! Command-line definitions (clap derive). Global options work before or after the command.

use crate::config::{ExportFormat, FormatParser, fees_parser, parse_duration, parse_tz};
use crate::domain::ReportCurrency;
use crate::export::FeeTreatment;
use crate::sync::BackfillMode;
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Keeps a complete local copy of a Kraken account's history and exports CARF-style reports.
#[derive(Debug, Parser)]
#[command(name = "kraken-tax", version, about, propagate_version = true)]
pub struct Cli {
    /// The SQLite database (created with mode 0600).
    #[arg(long, global = true, env = "KRAKEN_TAX_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Account name: one database can hold several Kraken accounts.
    #[arg(long, global = true, env = "KRAKEN_TAX_ACCOUNT", value_name = "NAME")]
    pub account: Option<String>,
    /// Optional TOML settings file.
    #[arg(long, global = true, env = "KRAKEN_TAX_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only errors on stderr (for cron).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch new ledger entries and trades from Kraken into the database.
    Sync(SyncArgs),
    /// Show what the database holds, per account and stream, and the last sync.
    Status,
    /// Recompute events and classifications from the stored raw history (after changing rules).
    Rebuild,
    /// Write the CARF report files of a year (summary and transactions CSV, CARF XML).
    Export(ExportArgs),
    /// Write the year at a glance: report-Y-CCY.html (and .xlsx) from the export and gains files.
    Report(ReportArgs),
    /// Run the whole job against the built-in Kraken emulator: no key, no network.
    Demo(DemoArgs),
    /// Serve a generated account with the built-in Kraken emulator on loopback (tests, benchmarks).
    Emulator(EmulatorArgs),
    /// Check the stored history for gaps: balance chains, trade legs, Kraken's balances.
    Verify(VerifyArgs),
    /// Import Kraken's website exports (ledgers.csv, trades.csv, any header version, or the zip).
    Import(ImportArgs),
    /// Check the API key, its permissions and the local setup (read-only calls only).
    Doctor(DoctorArgs),
    /// Price tables for valuation (offline sources).
    #[command(subcommand)]
    Prices(PricesCommand),
}

/// `prices` subcommands.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Import Kraken's downloadable OHLCVT files (e.g. XBTEUR_1440.csv) as a price source.
    Import {
        /// The files; each name gives the pair and the interval in minutes.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
    /// File holding the API key and secret on two lines; must be mode 0600 or stricter.
    #[arg(long, env = "KRAKEN_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Kraken API base URL (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Rate-limit tier of the account: starter, intermediate, pro, or MAX:DECAY.
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
}

/// Options of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The files: CSV or TSV exports, or the .zip as downloaded from Kraken.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Import the good rows of a file with bad ones, listing every skipped row (default: a
    /// bad row stops the import before anything of that file is stored).
    #[arg(long)]
    pub skip_bad: bool,
}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
    /// Do not ask Kraken for the current balances, even when credentials are available.
    #[arg(long)]
    pub offline: bool,
    /// Key file for the balance comparison (needs the Query Funds permission); mode 0600.
    #[arg(long, env = "KRAKEN_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Kraken API base URL (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
}

/// Options of `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// File holding the API key and secret on two lines; must be mode 0600 or stricter.
    #[arg(long, env = "KRAKEN_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Kraken API base URL (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Rate-limit tier of the account: starter, intermediate, pro, or MAX:DECAY (e.g. 15:0.33).
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
    /// Stop cleanly after this long (e.g. 20m), progress saved, exit 75.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_duration: Option<Duration>,
    /// First sync in bulk through Kraken's export API: none, export (needs the Export Data
    /// permission), or auto (export for never-synced streams, paging without the permission).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = BackfillMode::None)]
    pub backfill: BackfillMode,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's report files (the database itself is temporary).
    #[arg(long, value_name = "DIR", default_value = "kraken-tax-demo")]
    pub out: PathBuf,
    /// Seed of the generated account.
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
    /// Approximate number of ledger entries to generate (at most 100000).
    #[arg(long, default_value_t = 2000, value_parser = demo_entries)]
    pub entries: usize,
}

/// Largest `demo --entries`: the demo holds the generated account in memory twice.
pub const MAX_DEMO_ENTRIES: usize = 100_000;

/// A `demo --entries` out of range or not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("use a whole number from 1 to {MAX_DEMO_ENTRIES}")]
pub struct DemoEntriesError;

fn demo_entries(text: &str) -> Result<usize, DemoEntriesError> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_DEMO_ENTRIES).contains(&n) => Ok(n),
        _ => Err(DemoEntriesError),
    }
}

/// Options of `emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Loopback port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the generated account.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate number of ledger entries to generate.
    #[arg(long, default_value_t = 2000)]
    pub entries: usize,
    /// Tier whose counter the emulator enforces (before time scaling).
    #[arg(long, default_value = "pro")]
    pub tier: String,
    /// Time runs this many times faster for the rate counter.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Write a key file (mode 0600) that `sync --key-file` accepts for this emulator.
    #[arg(long, value_name = "PATH")]
    pub key_file_out: Option<PathBuf>,
    /// Write the generated account's ground truth as JSON.
    #[arg(long, value_name = "PATH")]
    pub truth: Option<PathBuf>,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Calendar year to report.
    #[arg(long)]
    pub year: i32,
    /// Reporting currency: EUR, USD, GBP, CHF, CAD, AUD or JPY.
    #[arg(long)]
    pub currency: ReportCurrency,
    /// Directory for the files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
    /// net: acquisitions without fees, disposals after fees; gross: the other way round.
    #[arg(long, default_value = "net", value_parser = fees_parser())]
    pub fees: FeeTreatment,
    /// Time zone of the year boundary (IANA name).
    #[arg(long, default_value = "UTC", value_parser = parse_tz)]
    pub tz: Tz,
    /// Files to write: csv, xml or csv,xml.
    #[arg(long, value_parser = FormatParser, value_delimiter = ',', default_value = "csv,xml")]
    pub format: Vec<ExportFormat>,
    /// Write header-only files (and a nil XML) when the year has no entries.
    #[arg(long)]
    pub allow_empty: bool,
    /// Exit 1 when there are warnings (unpriced or unclassified legs).
    #[arg(long)]
    pub strict: bool,
    /// Use only cached and imported prices: no call to Kraken.
    #[arg(long)]
    pub offline: bool,
    /// Where the CARF XML would miss required values (identity, prices), write
    /// carf-Y-CCY.draft.xml with marked placeholders instead of refusing.
    #[arg(long)]
    pub draft: bool,
    /// Kraken API base URL for market prices (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
}

/// A file `report --format` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// report-Y-CCY.html: one self-contained page.
    Html,
    /// report-Y-CCY.xlsx: one sheet per file.
    Xlsx,
}

/// Options of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Calendar year to report.
    #[arg(long)]
    pub year: i32,
    /// Reporting currency: EUR, USD, GBP, CHF, CAD, AUD or JPY.
    #[arg(long)]
    pub currency: ReportCurrency,
    /// Gains method whose files (from `kraken-tax gains`) the report shows.
    #[arg(long, value_enum, default_value_t = crate::config::GainsMethod::Fifo)]
    pub method: crate::config::GainsMethod,
    /// Files to write: html, xlsx or html,xlsx.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "html")]
    pub format: Vec<ReportFormat>,
    /// Directory of the export's, the gains' and the report's files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
    /// Use only cached and imported prices: no call to Kraken.
    #[arg(long)]
    pub offline: bool,
    /// Kraken API base URL for market prices (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
}
