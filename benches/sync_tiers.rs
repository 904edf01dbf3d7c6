//! Whole-sync benchmark against the emulator: wall time versus the fastest schedule each tier
//! allows, and history calls versus N/50.
//!
//! Run: `cargo bench --bench sync_tiers -- [ENTRIES] [TIME_SCALE] [TIERS]`
//! (defaults: 10000 entries, time scale 20, `starter,intermediate,pro`).
//!
//! The emulator and the client run in this process and talk HTTP over loopback; both model the
//! tier with its clock `TIME_SCALE` times faster. The fastest schedule for `n` calls of cost 2
//! starting from an empty counter is: burst until the counter is full, then one call every
//! `2 / decay` seconds, so the last call cannot start before `(2n - max) / decay` seconds.
//!
//! Under `cargo test` (no `--bench` argument) it syncs 2,000 entries at x1000 and checks that
//! every generated entry and trade was stored; its times are those of a debug build.

use kraken_tax::domain::{RateTier, Stream};
use kraken_tax::emulator::{EmulatorConfig, EmulatorHandle, GeneratorConfig, generate};
use kraken_tax::kraken::{ClientConfig, KrakenClient, MemoryKeyState, RetryPolicy, parse_api_url};
use kraken_tax::secret::Credentials;
use kraken_tax::store::Store;
use kraken_tax::sync::{SyncOptions, sync_account};
use std::time::Instant;

const KEY: &str = "BENCHKEY";
const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let entries: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 10_000 });
    let scale: f64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 1000.0 } else { 20.0 });
    let tiers = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "starter,intermediate,pro".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dataset = generate(&GeneratorConfig::new(42, entries));
    let n_entries = dataset.ledger.len() + dataset.trades.len();
    println!(
        "sync of {} ledger entries + {} trades, clock x{scale}",
        dataset.ledger.len(),
        dataset.trades.len()
    );
    println!(
        "| tier | history calls | calls / (N/50) | wall (s, sped-up clock) | fastest schedule (s, same clock) | ratio | entries/s | rate-limit errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in tiers.split(',') {
        let base: RateTier = name.parse().expect("tier");
        let tier = base.scaled(scale);
        runtime.block_on(async {
            let emu = EmulatorHandle::start(
                dataset.clone(),
                EmulatorConfig {
                    tier,
                    api_key: KEY.into(),
                    api_secret_b64: SECRET.into(),
                    page_size: 50,
                },
            )
            .await
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(&dir.path().join("bench.sqlite")).unwrap();
            let mut client = KrakenClient::new(
                ClientConfig::new(parse_api_url(&emu.url()).unwrap(), tier),
                Credentials::new(KEY, SECRET, "bench").unwrap(),
                Box::new(MemoryKeyState::default()),
            )
            .unwrap();
            let opts = SyncOptions {
                account: "bench".into(),
                stop_after_pages: None,
                deadline: None,
                retry: RetryPolicy::default(),
            };
            let started = Instant::now();
            let report = sync_account(&mut store, &mut client, &opts, &mut |_| {})
                .await
                .expect("sync completes");
            let wall = started.elapsed().as_secs_f64();
            assert_eq!(report.new_entries(), n_entries as u64, "new entries");
            for stream in [Stream::Ledgers, Stream::Trades] {
                let stored = store.stream_summary("bench", stream).unwrap().count;
                let generated = match stream {
                    Stream::Ledgers => dataset.ledger.len(),
                    Stream::Trades => dataset.trades.len(),
                };
                assert_eq!(stored, generated as u64, "{stream:?} stored");
            }
            let calls = emu.history_calls();
            let fastest = ((2.0 * calls as f64 - tier.max) / tier.decay_per_sec).max(0.0);
            println!(
                "| {name} | {calls} | {:.3} | {:.2} | {:.2} | {:.4} | {:.0} | {} |",
                calls as f64 / (n_entries as f64 / 50.0),
                wall,
                fastest,
                wall / fastest,
                report.new_entries() as f64 / wall,
                emu.stats().rate_limited
            );
        });
    }
}
