//! `demo`: the main job against the built-in emulator, with nothing set up: a generated
//! account served on loopback, synced into a temporary database through [`crate::sync::run()`],
//! exported through [`crate::export::run::run`] with plans built here, and compared with the
//! generator's ground truth.

use crate::config::{
    self, Common, ExportFlags, FileConfig, GainsFlags, GainsPlan, Method, PlanError,
};
use crate::domain::{RateTier, ReportCurrency};
pub use crate::emulator::serve::throwaway_key;
use crate::emulator::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate_with_prices};
use crate::export::FeeTreatment;
use crate::export::SummaryRow;
use crate::export::run::{ExportError, ExportFormat, ExportPlan, Exported};
use crate::kraken::client::ApiUrlError;
use crate::kraken::{RetryPolicy, parse_api_url};
use crate::secret::{CredentialError, Credentials};
use crate::store::{LedgerGrouping, Store, StoreError};
use crate::sync::{BackfillMode, RunError, RunEvent, SyncPlan, SyncReport};
use chrono::Datelike;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// The demo's clock runs this many times faster than Kraken's, so a Pro-tier sync of two
/// years of history takes about a second instead of minutes.
pub const DEMO_TIME_SCALE: f64 = 100.0;

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoPlan {
    /// Directory for the report files.
    pub out: PathBuf,
    /// Seed of the generated account.
    pub seed: u64,
    /// Approximate number of ledger entries.
    pub entries: usize,
    /// Only errors: no report text.
    pub quiet: bool,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The emulator did not start.
    #[error("starting the emulator on loopback")]
    Emulator(#[source] std::io::Error),
    /// No temporary directory.
    #[error("creating a temporary directory")]
    TempDir(#[source] std::io::Error),
    /// The emulator's URL (a bug).
    #[error(transparent)]
    ApiUrl(#[from] ApiUrlError),
    /// The throwaway key (a bug).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The sync failed.
    #[error("{error}")]
    Sync {
        /// The demo's database.
        db: PathBuf,
        /// Why.
        error: RunError,
    },
    /// The export plan (a bug).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The demo's database did not open.
    #[error("{error}")]
    Database {
        /// The demo's database.
        db: PathBuf,
        /// Why.
        error: StoreError,
    },
    /// The export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The report page or workbook failed.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// Reading the synced history back failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gains of the demo's year failed.
    #[error(transparent)]
    Gains(#[from] crate::gains::run::RunError),
    /// Nothing generated.
    #[error("the generated account is empty")]
    Empty,
    /// The sync lost or changed something: a bug.
    #[error(
        "the synced history differs from the emulator's ground truth ({ledger} of {ledger_truth} ledger entries, {trades} of {trades_truth} trades): this is a bug"
    )]
    Mismatch {
        /// Ledger entries synced.
        ledger: usize,
        /// Ledger entries generated.
        ledger_truth: usize,
        /// Trades synced.
        trades: usize,
        /// Trades generated.
        trades_truth: usize,
    },
}

/// Runs the demo; returns the text to show (none when quiet). `on_event` sees the sync.
pub async fn run(
    plan: &DemoPlan,
    on_event: &mut dyn FnMut(RunEvent),
) -> Result<Option<String>, DemoError> {
    let started = Instant::now();
    let gen_cfg = GeneratorConfig {
        seed: plan.seed,
        entries: plan.entries,
        ..GeneratorConfig::demo()
    };
    let (dataset, prices) = generate_with_prices(&gen_cfg);
    let (api_key, api_secret_b64) = throwaway_key();
    let tier = RateTier::PRO.scaled(DEMO_TIME_SCALE);
    let emulator = EmulatorHandle::start(
        dataset.clone(),
        EmulatorConfig {
            tier,
            api_key: api_key.clone(),
            api_secret_b64: api_secret_b64.clone(),
            page_size: 50,
        },
    )
    .await
    .map_err(DemoError::Emulator)?;
    emulator.public().set_prices(&prices);

    let tmp = tempfile::tempdir().map_err(DemoError::TempDir)?;
    let common = Common {
        db: tmp.path().join("kraken-tax-demo.sqlite"),
        account: "demo".to_owned(),
        quiet: true,
    };
    let db = common.db.clone();
    let sync = SyncPlan {
        db: db.clone(),
        account: common.account.clone(),
        api_url: parse_api_url(&emulator.url())?,
        tier,
        credentials: Credentials::new(&api_key, &api_secret_b64, "the demo emulator")?,
        max_duration: None,
        retry: RetryPolicy::default(),
        backfill: BackfillMode::None,
        rules: Default::default(),
        alert_after: None,
    };
    let report = crate::sync::run(sync, on_event)
        .await
        .map_err(|error| DemoError::Sync {
            db: db.clone(),
            error,
        })?;
    let history_calls = emulator.history_calls();

    // The last full calendar year of the generated history.
    let year = match dataset.ledger.last().map(|e| e.time.utc()) {
        Some(t) if t.month() == 12 && t.day() == 31 => t.year(),
        Some(t) => t.year() - 1,
        None => return Err(DemoError::Empty),
    };
    let export = config::export_plan(
        &common,
        &FileConfig::default(),
        ExportFlags {
            year,
            currency: Some(ReportCurrency::Eur),
            out: Some(plan.out.clone()),
            fees: Some(FeeTreatment::Net),
            tz: Some(chrono_tz::UTC),
            formats: Some(vec![ExportFormat::Csv, ExportFormat::Xml]),
            allow_empty: false,
            strict: false,
            offline: false,
            // The demo has no identity: its XML is a draft with marked placeholders.
            draft: true,
            api_url: Some(emulator.url()),
        },
    )?;
    let database = |error| DemoError::Database {
        db: db.clone(),
        error,
    };
    let exported = {
        let mut store = Store::open_checked(&db).map_err(database)?;
        crate::export::run::run(&export, &mut store).await?
    };
    // Gains need the whole history's prices, fetched from the emulator while it runs.
    let gains = crate::gains::run::demo_summary(&db, &gains_plans(&common, &export)?).await?;
    emulator.shutdown();

    let store = Store::open(&db).map_err(database)?;
    let ledger = store.ledger_entries(&common.account)?;
    let trades = store.trades(&common.account)?;
    if ledger != dataset.ledger || trades != dataset.trades {
        return Err(DemoError::Mismatch {
            ledger: ledger.len(),
            ledger_truth: dataset.ledger.len(),
            trades: trades.len(),
            trades_truth: dataset.trades.len(),
        });
    }
    let facts = crate::report::run::facts(&store, &export)?;
    let (report_files, _) = crate::report::run::write_report(&export, "fifo", &facts, true, true)?;
    if plan.quiet {
        return Ok(None);
    }
    let shown = Shown {
        report_files: &report_files,
        seed: plan.seed,
        year,
        history_calls,
        report: &report,
        exported: &exported,
        gains: &gains,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Some(render(&store, &common.account, &shown)?))
}

/// The demo's gains runs, built as the `gains` command builds them: `fifo` over the
/// export's year, currency, directory and price source, and `uk` too when the currency is GBP.
fn gains_plans(common: &Common, export: &ExportPlan) -> Result<Vec<GainsPlan>, PlanError> {
    let mut methods = vec![Method::Fifo];
    if export.currency == ReportCurrency::Gbp {
        methods.push(Method::Uk);
    }
    let flags = |method| GainsFlags {
        year: Some(export.year),
        tz: Some(export.tz),
        currency: Some(export.currency),
        method: Some(method),
        offline: export.prices_from.is_none(),
        out: Some(export.out.clone()),
        api_url: export.prices_from.as_ref().map(|u| u.to_string()),
        ..GainsFlags::default()
    };
    let file = FileConfig::default();
    methods
        .into_iter()
        .map(|m| config::gains_plan(common, &file, flags(m)))
        .collect()
}

/// What the demo's text reports.
struct Shown<'a> {
    report_files: &'a [PathBuf],
    seed: u64,
    year: i32,
    history_calls: u64,
    report: &'a SyncReport,
    exported: &'a Exported,
    /// The gains summary, as text.
    gains: &'a str,
    seconds: f64,
}

/// The demo's text: the status, the entries per type and asset, the sync's cost, the summary.
fn render(store: &Store, account: &str, s: &Shown<'_>) -> Result<String, StoreError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kraken-tax demo: synced a generated account (seed {}) from the built-in Kraken emulator over HTTP\n",
        s.seed
    );
    out.push_str(&crate::status::render(store, account)?);
    let join = |v: Vec<(String, u64)>| {
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let by_type = join(store.ledger_counts_by(account, LedgerGrouping::Type)?);
    let by_asset = join(store.ledger_counts_by(account, LedgerGrouping::Asset)?);
    let _ = writeln!(out, "\nledger entries per type:  {by_type}");
    let _ = writeln!(out, "ledger entries per asset: {by_asset}");
    let _ = writeln!(
        out,
        "\n{} for {} (Pro tier, clock x{DEMO_TIME_SCALE}); {}; identical to the ground truth; {:.1} s",
        crate::text::count(s.history_calls, "history call"),
        crate::text::plural(s.report.new_entries(), "entry", "entries"),
        crate::text::count(s.report.pages(), "page"),
        s.seconds
    );
    let _ = writeln!(
        out,
        "\nCARF summary {}, EUR (net of fees):\n{}",
        s.year,
        summary_table(&s.exported.summary)
    );
    let _ = writeln!(out, "{}; files written:", legs_line(s.exported, s.year));
    for f in s.exported.files.iter().chain(s.report_files) {
        let _ = writeln!(out, "  {}", f.display());
    }
    out.push_str(s.gains);
    Ok(out)
}

/// How many legs the year has and, of those that need a value (reportable crypto-asset
/// legs), how many were valued: fiat and internal legs need none and are not called unvalued.
pub fn legs_line(exported: &Exported, year: i32) -> String {
    let need = exported.priced + exported.unpriced;
    format!(
        "{} in {year}; {need} {} a value: {} valued, {} without a price",
        crate::text::count(exported.legs, "leg"),
        crate::text::agree(need, "needs", "need"),
        exported.priced,
        exported.unpriced
    )
}

/// The summary as a small fixed-width table.
fn summary_table(rows: &[SummaryRow]) -> String {
    let mut t = format!(
        "  {:<6} {:<18} {:<8} {:>6} {:>20} {:>12}\n",
        "asset", "element", "code", "count", "units", "amount"
    );
    for r in rows {
        let _ = writeln!(
            t,
            "  {:<6} {:<18} {:<8} {:>6} {:>20} {:>12}",
            r.crypto_asset,
            r.element.as_str(),
            r.type_code.as_deref().unwrap_or(""),
            r.number_of_transactions
                .map(|n| n.to_string())
                .unwrap_or_default(),
            r.number_of_units.normalize().to_string(),
            r.amount().to_string()
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legs_line_counts_as_unvalued_only_legs_that_need_a_value() {
        let exported = Exported {
            files: Vec::new(),
            summary: Vec::new(),
            legs: 984,
            priced: 573,
            unpriced: 2,
        };
        assert_eq!(
            legs_line(&exported, 2025),
            "984 legs in 2025; 575 need a value: 573 valued, 2 without a price"
        );
    }
}
