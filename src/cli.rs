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
#[command(
    name = "kraken-tax",
    version = env!("KRAKEN_TAX_VERSION"),
    about,
    propagate_version = true
)]
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
    /// Also append the log, with times, to this file (created 0600): warnings and info even
    /// under -q, so a quiet cron run loses nothing.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Colour the log lines on stderr: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    /// Always (e.g. through `less -R`).
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Whether to colour, given `NO_COLOR`'s value and whether stderr is a terminal.
    pub fn enabled(self, no_color: Option<&std::ffi::OsStr>, terminal: bool) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch new ledger entries and trades from Kraken into the database.
    Sync(SyncArgs),
    /// Show what the database holds, per account and stream, and the last sync.
    Status(StatusArgs),
    /// Recompute events and classifications from the stored raw history (after changing rules).
    Rebuild(RebuildArgs),
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
    /// Gains, income, margin and holdings of a period (your own computation, not tax advice).
    Gains(GainsArgs),
    /// Costs of deposits from elsewhere, for `gains`.
    #[command(subcommand)]
    Basis(BasisCommand),
    /// Say what a deposit or withdrawal is (by ledger id or refid).
    Label(LabelArgs),
    /// Print a shell completion script (bash, zsh, fish or powershell) on stdout.
    Completions(CompletionsArgs),
    /// Write the manual pages (one per command), or print the main page on stdout.
    Man(ManArgs),
    /// Show the resolved settings and where each came from (secrets never shown).
    Config,
    /// Print the default paths: database, config file, key file, on this system.
    Paths,
}

/// `basis` subcommands.
#[derive(Debug, Subcommand)]
pub enum BasisCommand {
    /// Import a CSV of costs (columns ledger_ref,asset,time_utc,units,cost,currency,acquired).
    Import {
        /// The CSV file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// What a deposit or withdrawal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LabelArg {
    /// A wallet of your own: units that leave and come back keep their cost and date.
    OwnWallet,
    /// Another exchange or provider.
    Exchange,
    /// A private wallet (not at a provider).
    PrivateWallet,
}

/// Options of `label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Ledger id or refid of the deposit or withdrawal.
    #[arg(value_name = "ID")]
    pub id: String,
    /// What it is.
    #[arg(value_enum, value_name = "LABEL")]
    pub label: LabelArg,
}

/// Options of `gains`. Unset options come from the config's `[gains]` table, else the
/// defaults in brackets.
#[derive(Debug, Args)]
pub struct GainsArgs {
    /// The year: calendar (--tz), or the tax year ending in it with --period.
    #[arg(long)]
    pub year: Option<i32>,
    /// First day of a custom period (YYYY-MM-DD, included), with --to.
    #[arg(long, value_name = "DATE")]
    pub from: Option<chrono::NaiveDate>,
    /// Last day of a custom period (YYYY-MM-DD, included), with --from.
    #[arg(long, value_name = "DATE")]
    pub to: Option<chrono::NaiveDate>,
    /// Reporting currency: EUR, USD, GBP, CHF, CAD, AUD or JPY [default: [gains] currency].
    #[arg(long)]
    pub currency: Option<ReportCurrency>,
    /// Matching method [default: [gains] method, else fifo].
    #[arg(long, value_enum)]
    pub method: Option<crate::gains::Method>,
    /// Kind of year of --year [default: [gains] period, else uk for --method uk, else calendar].
    #[arg(long, value_enum)]
    pub period: Option<crate::gains::TaxYear>,
    /// Match over every account of the database (default: the selected one).
    #[arg(long)]
    pub all_accounts: bool,
    /// Unknown costs left empty or treated as zero.
    #[arg(long, value_enum, default_value = "empty")]
    pub unknown_cost: crate::gains::UnknownCost,
    /// Which side of a swap a crypto fee counts on.
    #[arg(long, value_enum, default_value = "leg")]
    pub swap_fee: crate::gains::SwapFee,
    /// Lot choice for --method us [default: fifo].
    #[arg(long, value_enum)]
    pub lots: Option<crate::gains::LotPick>,
    /// Use only cached and imported prices: no call to Kraken.
    #[arg(long)]
    pub offline: bool,
    /// Directory for the files [default: [gains] out, else .].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Time zone of the calendar year or of --from/--to, an IANA name [default: [gains] tz,
    /// else UTC].
    #[arg(long, value_parser = parse_tz)]
    pub tz: Option<Tz>,
    /// Kraken API base URL for market prices (plain http only for loopback addresses).
    #[arg(long, env = "KRAKEN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Print one JSON object (schemas/json/gains.schema.json) instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Options of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for the pages (kraken-tax.1, kraken-tax-sync.1, ...); created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    /// Say what would be stored, skipped or kept aside as conflicts; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object (schemas/json/import.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `status` options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object (schemas/json/status.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `rebuild` options.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Say what the classification would be; change nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    /// A temporary failure exits 0 quietly while the last complete sync is younger than this
    /// (e.g. "2d"), and 75 with one line once it is older.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub alert_after: Option<Duration>,
    /// Print one JSON object (schemas/json/sync.schema.json) instead of the summary line.
    #[arg(long)]
    pub json: bool,
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
    /// Reporting currency: EUR, USD, GBP, CHF, CAD, AUD or JPY [default: [export] currency].
    #[arg(long)]
    pub currency: Option<ReportCurrency>,
    /// Directory for the files [default: [export] out, else .].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// net: acquisitions without fees, disposals after fees; gross: the other way round
    /// [default: [export] fees, else net].
    #[arg(long, value_parser = fees_parser())]
    pub fees: Option<FeeTreatment>,
    /// Time zone of the year boundary, an IANA name [default: [export] tz, else UTC].
    #[arg(long, value_parser = parse_tz)]
    pub tz: Option<Tz>,
    /// Files to write: csv, xml or csv,xml [default: [export] format, else csv,xml].
    #[arg(long, value_parser = FormatParser, value_delimiter = ',')]
    pub format: Option<Vec<ExportFormat>>,
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
    /// Print one JSON object (schemas/json/export.schema.json) instead of the file list.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::ColorWhen;
    use std::ffi::OsStr;

    #[test]
    fn colour_follows_the_flag_then_no_color_then_the_terminal() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(ColorWhen::Auto.enabled(None, true));
        assert!(!ColorWhen::Auto.enabled(set, true));
        assert!(ColorWhen::Auto.enabled(empty, true));
        assert!(!ColorWhen::Auto.enabled(None, false));
        assert!(ColorWhen::Always.enabled(set, false));
        assert!(!ColorWhen::Never.enabled(None, true));
    }
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
    /// Gains method the report runs and shows [default: [gains] method, else fifo].
    #[arg(long, value_enum)]
    pub method: Option<crate::gains::Method>,
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
    /// Print one JSON object (schemas/json/report.schema.json) instead of the file list.
    #[arg(long)]
    pub json: bool,
}
