//! Syncs against an emulator failing 10–20% of calls in every way Kraken does, rerun as cron
//! would after each "retry later": the result is exactly the ground truth.

use crate::harness::{ACCOUNT, Env, fast_retry};
use kraken_tax::emulator::{FaultPlan, GeneratorConfig, generate};
use kraken_tax::store::Store;
use kraken_tax::sync::{SyncError, SyncOptions, sync_account};
use std::collections::BTreeMap;
use std::time::Duration;

/// Client timeout in these tests; injected hangs last longer.
const TIMEOUT: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_seeds_of_faults_end_with_exactly_the_ground_truth() {
    let mut matrix: BTreeMap<String, u64> = BTreeMap::new();
    let mut runs_total = 0;
    for seed in 0..50u64 {
        let dataset = generate(&GeneratorConfig::new(
            1000 + seed,
            400 + (seed as usize % 5) * 100,
        ));
        let env = Env::with_dataset(dataset).await;
        // Hide the newest fifth: the NewEntries fault reveals it bit by bit mid-sync.
        let all = &env.dataset.ledger;
        env.emu
            .set_visible_until(Some(all[all.len() * 4 / 5].time.micros()));
        let rate = 0.10 + (seed % 11) as f64 * 0.01;
        env.emu.set_fault_plan(Some(FaultPlan {
            hang: TIMEOUT * 2,
            lockout: Duration::from_millis(100),
            ..FaultPlan::new(seed, rate)
        }));
        let mut runs = 0;
        let mut everything_visible = false;
        loop {
            runs += 1;
            assert!(runs <= 200, "seed {seed}: no convergence after 200 runs");
            // Each run is a new process: a new client from the database's key state.
            let mut store = Store::open(&env.db).unwrap();
            let mut client = env.client_with_timeout(TIMEOUT);
            let mut retry = fast_retry();
            // Throttled waits end the run, as a waiting time past the budget would.
            retry.max_throttle_wait = Duration::ZERO;
            let opts = SyncOptions {
                account: ACCOUNT.to_owned(),
                stop_after_pages: None,
                deadline: None,
                retry,
            };
            let result = sync_account(&mut store, &mut client, &opts, &mut |_| {}).await;
            // A ReplayPrevious fault can answer a run's only ledger query with the stale empty
            // page of the run before: that run ends well without the newest entries, and
            // cron's next run fetches them. So a run "ends" once all is visible and stored.
            let all_stored = || {
                store.ledger_entries(ACCOUNT).unwrap().len() == env.dataset.ledger.len()
                    && store.trades(ACCOUNT).unwrap().len() == env.dataset.trades.len()
            };
            match result {
                Ok(_) if everything_visible && all_stored() => break,
                Ok(_) if everything_visible => {}
                Ok(_) => {
                    env.emu.set_visible_until(None);
                    everything_visible = true;
                }
                Err(f) => match &f.error {
                    SyncError::Kraken(e) if e.is_temporary() => {}
                    other => panic!("seed {seed}: run {runs} failed for good: {other}"),
                },
            }
        }
        env.assert_equals_ground_truth();
        let stats = env.emu.stats();
        assert_eq!(
            stats.rate_limited, 0,
            "seed {seed}: the client exceeded the real limit"
        );
        for (kind, n) in stats.faults {
            *matrix.entry(kind).or_default() += n;
        }
        runs_total += runs;
    }
    println!("fault matrix over 50 seeds ({runs_total} runs, 0 entries lost, 0 duplicated):");
    for (kind, n) in &matrix {
        println!("  {kind:<18} {n}");
    }
    // Every kind of fault was exercised.
    for kind in FaultPlan::all_kinds() {
        assert!(
            matrix.get(kind.name()).copied().unwrap_or(0) > 0,
            "{} never injected",
            kind.name()
        );
    }
}
