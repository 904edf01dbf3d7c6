//! `kraken-tax demo`: the main job against the built-in emulator, with nothing set up.

use super::sync::{Target, sync_into};
use super::{Context, Failure, status};
use crate::cli::DemoArgs;
use crate::cli::ExportArgs;
use crate::config::FileConfig;
use crate::domain::RateTier;
use crate::emulator::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate_with_prices};
use crate::export::SummaryRow;
use crate::kraken::parse_api_url;
use crate::secret::Credentials;
use crate::store::{LedgerGrouping, Store};
use anyhow::Context as _;
use chrono::Datelike;
use std::fmt::Write as _;
use std::time::Instant;

/// The demo's clock runs this many times faster than Kraken's, so a Pro-tier sync of two
/// years of history takes about a second instead of minutes.
const DEMO_TIME_SCALE: f64 = 100.0;

pub(super) async fn run(args: &DemoArgs, quiet: bool) -> Result<(), Failure> {
    let started = Instant::now();
    let gen_cfg = GeneratorConfig {
        seed: args.seed,
        entries: args.entries,
        ..GeneratorConfig::demo()
    };
    let (dataset, prices) = generate_with_prices(&gen_cfg);
    let (api_key, api_secret_b64) = super::emulator::throwaway_key();
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
    .context("starting the emulator on loopback")
    .map_err(Failure::bad)?;
    emulator.public().set_prices(&prices);

    let tmp = tempfile::tempdir()
        .context("creating a temporary directory")
        .map_err(Failure::bad)?;
    let db = tmp.path().join("kraken-tax-demo.sqlite");
    let account = "demo";
    let target_url = parse_api_url(&emulator.url()).map_err(Failure::bad)?;
    let target = Target {
        api_url: target_url.clone(),
        tier,
        credentials: Credentials::new(&api_key, &api_secret_b64, "the demo emulator")
            .map_err(Failure::bad)?,
        max_duration: None,
        retry: crate::kraken::RetryPolicy::default(),
    };
    let report = sync_into(&db, account, target, quiet).await?;
    let history_calls = emulator.history_calls();

    // The last full calendar year of the generated history.
    let newest = dataset.ledger.last().map(|e| e.time.utc());
    let year = match newest {
        Some(t) if t.month() == 12 && t.day() == 31 => t.year(),
        Some(t) => t.year() - 1,
        None => {
            return Err(Failure::bad(anyhow::anyhow!(
                "the generated account is empty"
            )));
        }
    };
    let ctx = Context {
        db: db.clone(),
        account: account.to_owned(),
        file: FileConfig::default(),
        quiet: true,
    };
    let export_args = ExportArgs {
        year,
        currency: "EUR".to_owned(),
        out: args.out.clone(),
        fees: "net".to_owned(),
        tz: "UTC".to_owned(),
        format: "csv,xml".to_owned(),
        allow_empty: false,
        strict: false,
        offline: false,
        // The demo has no identity: its XML is a draft with marked placeholders.
        draft: true,
        api_url: Some(emulator.url()),
    };
    let exported = super::export::export(&ctx, &export_args).await?;
    let gains = crate::gains::run::demo_summary(&db, account, "EUR", year, &args.out, target_url)
        .await
        .map_err(Failure::bad)?;
    emulator.shutdown();

    let store = Store::open(&db).map_err(|e| super::store_failure(&db, e))?;
    let ledger = store.ledger_entries(account).map_err(Failure::bad)?;
    let trades = store.trades(account).map_err(Failure::bad)?;
    let exact = ledger == dataset.ledger && trades == dataset.trades;
    if !exact {
        return Err(Failure::bad(anyhow::anyhow!(
            "the synced history differs from the emulator's ground truth ({} of {} ledger entries, {} of {} trades): this is a bug",
            ledger.len(),
            dataset.ledger.len(),
            trades.len(),
            dataset.trades.len()
        )));
    }
    if quiet {
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kraken-tax demo: synced a generated account (seed {}) from the built-in Kraken emulator over HTTP\n",
        args.seed
    );
    out.push_str(&status::render(&store, account).map_err(Failure::bad)?);
    let by = |g| store.ledger_counts_by(account, g).map_err(Failure::bad);
    let join = |v: Vec<(String, u64)>| {
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "\nledger entries per type:  {}",
        join(by(LedgerGrouping::Type)?)
    );
    let _ = writeln!(
        out,
        "ledger entries per asset: {}",
        join(by(LedgerGrouping::Asset)?)
    );
    let _ = writeln!(
        out,
        "\n{} history calls for {} entries (Pro tier, clock x{DEMO_TIME_SCALE}); {} pages; identical to the ground truth; {:.1} s",
        history_calls,
        report.new_entries(),
        report.pages(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "\nCARF summary {year}, EUR (net of fees):\n{}",
        summary_table(&exported.summary)
    );
    let _ = writeln!(out, "{}; files written:", legs_line(&exported, year));
    for f in &exported.files {
        let _ = writeln!(out, "  {}", f.display());
    }
    out.push_str(&gains);
    super::out(&out)
}

/// How many legs the year has and, of those that need a value (reportable crypto-asset
/// legs), how many were valued: fiat and internal legs need none and are not called unvalued.
fn legs_line(exported: &super::export::Exported, year: i32) -> String {
    let need = exported.priced + exported.unpriced;
    format!(
        "{} legs in {year}; {need} need a value: {} valued, {} without a price",
        exported.legs, exported.priced, exported.unpriced
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
        let exported = super::super::export::Exported {
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
