//! Sync against the emulator: completeness, resumption, new arrivals, call costs.

use crate::harness::{ACCOUNT, Env};
use kraken_tax::emulator::{GeneratorConfig, generate};
use kraken_tax::store::Store;
use kraken_tax::sync::SyncError;

fn calls(env: &Env, method: &str) -> u64 {
    env.emu.stats().by_method.get(method).copied().unwrap_or(0)
}

/// The bound the issue sets: a full sync of N entries costs at most N/49 + 2 history calls.
fn max_calls(n: usize) -> u64 {
    (n as f64 / 49.0 + 2.0).floor() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_equals_ground_truth_for_several_seeds_and_sizes() {
    for (seed, entries) in [(1, 10), (2, 120), (3, 777), (4, 3000)] {
        let env = Env::generated(seed, entries).await;
        let report = env.sync(None).await.expect("sync completes");
        env.assert_equals_ground_truth();
        assert_eq!(
            report.streams["ledgers"].new as usize,
            env.dataset.ledger.len()
        );
        assert_eq!(
            report.streams["trades"].new as usize,
            env.dataset.trades.len()
        );
        assert!(
            report
                .streams
                .values()
                .all(|s| s.complete && s.count_mismatch.is_none())
        );
        assert_eq!(
            env.emu.stats().rate_limited,
            0,
            "seed {seed}: the client must pace itself"
        );
        let (ln, tn) = (env.dataset.ledger.len(), env.dataset.trades.len());
        assert!(
            calls(&env, "Ledgers") <= max_calls(ln),
            "seed {seed}: {} Ledgers calls for {ln}",
            calls(&env, "Ledgers")
        );
        assert!(
            calls(&env, "TradesHistory") <= max_calls(tn),
            "seed {seed}: {} TradesHistory calls for {tn}",
            calls(&env, "TradesHistory")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_nothing_new_costs_one_call_per_stream() {
    let env = Env::generated(5, 400).await;
    env.sync(None).await.unwrap();
    let (l0, t0) = (calls(&env, "Ledgers"), calls(&env, "TradesHistory"));
    let report = env.sync(None).await.unwrap();
    assert_eq!(report.new_entries(), 0);
    assert_eq!(calls(&env, "Ledgers") - l0, 1);
    assert_eq!(calls(&env, "TradesHistory") - t0, 1);
    env.assert_equals_ground_truth();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_stopped_after_any_page_and_resumed_equals_ground_truth() {
    let reference = Env::generated(6, 260).await;
    let full = reference.sync(None).await.unwrap();
    let total_pages = full.pages();
    assert!(
        total_pages >= 6,
        "the account should span several pages, got {total_pages}"
    );
    for k in 1..total_pages {
        let env = Env::with_dataset(reference.dataset.clone()).await;
        let err = env.sync(Some(k)).await.expect_err("stops early");
        assert!(
            matches!(err.error, SyncError::Stopped(n) if n == k),
            "{}",
            err.error
        );
        let first = err.report.new_entries();
        let rest = env.sync(None).await.expect("resumes");
        env.assert_equals_ground_truth();
        // Nothing fetched twice into the store, nothing missed.
        assert_eq!(
            first + rest.new_entries(),
            (env.dataset.ledger.len() + env.dataset.trades.len()) as u64,
            "stopped after page {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_arriving_during_a_sync_are_fetched_by_the_next_one() {
    let env = Env::generated(7, 900).await;
    let all = &env.dataset.ledger;
    let cut = all[all.len() * 2 / 3].time.micros();
    env.emu.set_visible_until(Some(cut));
    // New entries appear after the third call, in the middle of the first walk.
    env.emu.reveal_after_calls(3, None);
    let first = env.sync(None).await.unwrap();
    let store = Store::open(&env.db).unwrap();
    let after_first = store.ledger_entries(ACCOUNT).unwrap().len();
    assert!(
        after_first < all.len(),
        "the window fixed before the arrivals cannot include them"
    );
    assert_eq!(
        after_first,
        all.iter().filter(|e| e.time.micros() <= cut).count(),
        "the first sync holds exactly what existed when it started"
    );
    let second = env.sync(None).await.unwrap();
    env.assert_equals_ground_truth();
    assert_eq!(
        first.new_entries() + second.new_entries(),
        (all.len() + env.dataset.trades.len()) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_entries_sharing_one_timestamp_are_paged_with_ofs() {
    let mut cfg = GeneratorConfig::new(8, 300);
    cfg.same_time_burst = Some(130);
    let env = Env::with_dataset(generate(&cfg)).await;
    let report = env.sync(None).await.unwrap();
    env.assert_equals_ground_truth();
    assert!(report.streams["ledgers"].complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nonce_is_persisted_so_a_second_run_never_reuses_one() {
    let env = Env::generated(9, 100).await;
    env.sync(None).await.unwrap();
    // A second client on the same database continues above the persisted nonce even within the
    // same millisecond; the emulator would answer EAPI:Invalid nonce otherwise.
    env.sync(None).await.unwrap();
    env.sync(None).await.unwrap();
    assert_eq!(env.emu.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_right_after_another_respects_the_counter_kraken_remembers() {
    // 20 max, 20 per second: the first run ends with a full counter; a second run that forgot
    // it would burst straight into EAPI:Rate limit exceeded.
    let tier = kraken_tax::domain::RateTier {
        max: 20.0,
        decay_per_sec: 20.0,
    };
    let env = Env::with_tier(generate(&GeneratorConfig::new(10, 900)), tier).await;
    let all = &env.dataset.ledger;
    env.emu
        .set_visible_until(Some(all[all.len() - 200].time.micros()));
    env.sync(None).await.unwrap();
    env.emu.set_visible_until(None);
    env.sync(None).await.unwrap();
    env.assert_equals_ground_truth();
    assert_eq!(env.emu.stats().rate_limited, 0);
    assert!(calls(&env, "Ledgers") + calls(&env, "TradesHistory") > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_record_counts_what_an_export_backfill_stored() {
    let env = Env::generated(37, 400).await;
    env.emu
        .set_export_delay(std::time::Duration::from_millis(10));
    let key_file = env.key_file();
    let out = env
        .run_sync_bin(
            &[
                "--key-file",
                key_file.to_str().unwrap(),
                "--backfill",
                "export",
                "-q",
            ],
            &[],
        )
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::harness::stderr(&out)
    );
    // The export's rows are stored in the CSV's form (times in seconds): compare counts.
    let store = kraken_tax::store::Store::open(&env.db).unwrap();
    let stored = (
        store.ledger_entries(ACCOUNT).unwrap().len() as u64,
        store.trades(ACCOUNT).unwrap().len() as u64,
    );
    assert_eq!(
        stored,
        (
            env.dataset.ledger.len() as u64,
            env.dataset.trades.len() as u64
        )
    );
    let run = store.last_run(ACCOUNT).unwrap().unwrap();
    assert_eq!((run.new_ledger, run.new_trades), stored);
}
