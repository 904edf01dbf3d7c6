//! `kraken-tax demo`: the main job against the built-in emulator, with nothing set up.

use super::sync::{Target, sync_into};
use super::{Failure, status};
use crate::cli::DemoArgs;
use crate::domain::RateTier;
use crate::emulator::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate};
use crate::kraken::parse_api_url;
use crate::secret::Credentials;
use crate::store::{LedgerGrouping, Store};
use anyhow::Context as _;
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
    let dataset = generate(&gen_cfg);
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

    let tmp;
    let db = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating {}", dir.display()))
                .map_err(Failure::usage)?;
            dir.join("kraken-tax-demo.sqlite")
        }
        None => {
            tmp = tempfile::tempdir()
                .context("creating a temporary directory")
                .map_err(Failure::bad)?;
            tmp.path().join("kraken-tax-demo.sqlite")
        }
    };
    let account = "demo";
    let target = Target {
        api_url: parse_api_url(&emulator.url()).map_err(Failure::bad)?,
        tier,
        credentials: Credentials::new(&api_key, &api_secret_b64, "the demo emulator")
            .map_err(Failure::bad)?,
        max_duration: None,
        retry: crate::kraken::RetryPolicy::default(),
    };
    let report = sync_into(&db, account, target, quiet).await?;
    let history_calls = emulator.history_calls();
    emulator.shutdown();

    let store = Store::open(&db).map_err(Failure::bad)?;
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
    match &args.out {
        Some(dir) => {
            let _ = writeln!(
                out,
                "database kept at {}",
                dir.join("kraken-tax-demo.sqlite").display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "(temporary database removed; pass --out DIR to keep it)"
            );
        }
    }
    print!("{out}");
    Ok(())
}
