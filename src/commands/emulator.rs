//! `kraken-tax emulator`: serve a generated account on loopback until interrupted.

use super::Failure;
use crate::cli::EmulatorArgs;
use crate::domain::RateTier;
use crate::emulator::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate_with_prices};
use anyhow::{Context as _, anyhow};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

pub(super) async fn run(args: &EmulatorArgs) -> Result<(), Failure> {
    let tier: RateTier = args.tier.parse().map_err(Failure::usage)?;
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(Failure::usage(anyhow!(
            "--time-scale must be a positive number"
        )));
    }
    let tier = tier.scaled(args.time_scale);
    let (dataset, prices) = generate_with_prices(&GeneratorConfig::new(args.seed, args.entries));
    if let Some(path) = &args.truth {
        dataset
            .write_truth(path)
            .with_context(|| format!("writing {}", path.display()))
            .map_err(Failure::bad)?;
    }
    let (api_key, api_secret_b64) = crate::demo::throwaway_key();
    if let Some(path) = &args.key_file_out {
        write_key_file(path, &api_key, &api_secret_b64)?;
    }
    let (ledger_n, trades_n) = (dataset.ledger.len(), dataset.trades.len());
    let handle = EmulatorHandle::start_on(
        SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        dataset,
        EmulatorConfig {
            tier,
            api_key,
            api_secret_b64,
            page_size: 50,
        },
    )
    .await
    .context("starting the emulator")
    .map_err(Failure::bad)?;
    handle.public().set_prices(&prices);
    super::out(&format!(
        "emulator listening on {} ({ledger_n} ledger entries, {trades_n} trades; tier {tier}); Ctrl-C to stop\n",
        handle.url()
    ))?;
    wait_for_signal().await;
    let stats = handle.stats();
    super::note(&format!(
        "emulator: {} history calls, {} refused by the rate limit",
        handle.history_calls(),
        stats.rate_limited
    ));
    handle.shutdown();
    Ok(())
}

/// Writes a key file (mode 0600) that `sync --key-file` accepts for this emulator.
fn write_key_file(path: &std::path::Path, key: &str, secret_b64: &str) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            writeln!(f, "{key}\n{secret_b64}")?;
            Ok(f)
        })
        .with_context(|| format!("writing {}", path.display()))
        .map_err(Failure::bad)?;
    f.flush().map_err(|e| Failure::bad(anyhow!(e)))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
