//! `kraken-tax emulator`, orchestrated: a generated account (and its ground truth, and a key
//! file for `sync --key-file`, when asked) served on loopback until SIGINT or SIGTERM. The
//! command builds the [`ServePlan`], shows the [`Listening`] line and the [`Served`] counts,
//! and maps a [`ServeError`] to an exit code.

use super::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate_with_prices};
use crate::domain::RateTier;
use base64::Engine as _;
use rand::RngExt as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// What `kraken-tax emulator` serves.
#[derive(Debug, Clone)]
pub struct ServePlan {
    /// Loopback port (0: any free port).
    pub port: u16,
    /// Seed of the generated account.
    pub seed: u64,
    /// Approximate number of ledger entries.
    pub entries: usize,
    /// The tier whose counter is enforced, already scaled in time.
    pub tier: RateTier,
    /// Where to write the generated account's ground truth (JSON).
    pub truth: Option<PathBuf>,
    /// Where to write a key file (mode 0600) that `sync --key-file` accepts.
    pub key_file_out: Option<PathBuf>,
}

/// The emulator is up: what to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Listening {
    /// Its base URL.
    pub url: String,
    /// Ledger entries served.
    pub ledger_entries: usize,
    /// Trades served.
    pub trades: usize,
    /// The enforced (scaled) tier.
    pub tier: RateTier,
}

/// What the emulator answered until it was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// History calls (Ledgers, TradesHistory, ...).
    pub history_calls: u64,
    /// Requests refused by the rate limit.
    pub rate_limited: u64,
}

/// Why the emulator did not serve, or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The ground truth or the key file could not be written.
    #[error("writing {}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server did not start.
    #[error("starting the emulator")]
    Start(#[source] std::io::Error),
    /// Telling the user where it listens failed.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

/// Serves the account of `plan` until SIGINT or SIGTERM; `on_listening` tells the user where.
pub async fn serve(
    plan: ServePlan,
    on_listening: &mut dyn FnMut(&Listening) -> std::io::Result<()>,
) -> Result<Served, ServeError> {
    let (dataset, prices) = generate_with_prices(&GeneratorConfig::new(plan.seed, plan.entries));
    if let Some(path) = &plan.truth {
        dataset
            .write_truth(path)
            .map_err(|source| ServeError::Write {
                path: path.clone(),
                source,
            })?;
    }
    let (api_key, api_secret_b64) = throwaway_key();
    if let Some(path) = &plan.key_file_out {
        write_key_file(path, &api_key, &api_secret_b64).map_err(|source| ServeError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let (ledger_entries, trades) = (dataset.ledger.len(), dataset.trades.len());
    let handle = EmulatorHandle::start_on(
        SocketAddr::from((Ipv4Addr::LOCALHOST, plan.port)),
        dataset,
        EmulatorConfig {
            tier: plan.tier,
            api_key,
            api_secret_b64,
            page_size: 50,
        },
    )
    .await
    .map_err(ServeError::Start)?;
    handle.public().set_prices(&prices);
    on_listening(&Listening {
        url: handle.url(),
        ledger_entries,
        trades,
        tier: plan.tier,
    })
    .map_err(ServeError::Output)?;
    termination().await;
    let served = Served {
        history_calls: handle.history_calls(),
        rate_limited: handle.stats().rate_limited,
    };
    handle.shutdown();
    Ok(served)
}

/// A random key pair for an emulator (never a real Kraken key).
pub fn throwaway_key() -> (String, String) {
    let mut rng = rand::rng();
    let key: String = (0..56)
        .map(|_| {
            let c = rng.random_range(0..62u8);
            (match c {
                0..=25 => b'A' + c,
                26..=51 => b'a' + c - 26,
                _ => b'0' + c - 52,
            }) as char
        })
        .collect();
    let secret: [u8; 64] = rng.random();
    (
        key,
        base64::engine::general_purpose::STANDARD.encode(secret),
    )
}

/// Writes a key file (mode 0600) that `sync --key-file` accepts for this emulator.
fn write_key_file(path: &Path, key: &str, secret_b64: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{key}\n{secret_b64}")?;
    f.flush()
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn termination() {
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
