//! Tests for the bugs a mutation audit planted and no test noticed (issue 14, item 15): each
//! fails with its bug planted.

use crate::harness::{Env, KEY, SECRET, stderr};
use kraken_tax::kraken::{
    ClientConfig, KeyState, KeyStateError, KeyStateStore, KrakenClient, parse_api_url,
};
use kraken_tax::secret::Credentials;
use std::sync::{Arc, Mutex};

/// A sync whose window Kraken announced with more entries than it served warns and records
/// `(announced, stored)`; one announced with as many or fewer does not (`sync/driver.rs`:
/// the warning's `stored < expected`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_entries_stored_than_announced_is_reported_and_not_otherwise() {
    for offset in [3i64, 0, -3] {
        // More ledger entries than one page of 50, fewer trades than one.
        let env = Env::generated(72, 120).await;
        env.emu.set_count_offset(offset);
        let report = env.sync(None).await.expect("sync");
        // The served history is complete whatever the counts said.
        env.assert_equals_ground_truth();
        for (stream, n) in [
            ("ledgers", env.dataset.ledger.len() as u64),
            ("trades", env.dataset.trades.len() as u64),
        ] {
            let s = &report.streams[stream];
            assert!(s.complete, "{stream} {offset}");
            let want = (offset > 0).then(|| (n + offset as u64, n));
            assert_eq!(s.count_mismatch, want, "{stream}, count off by {offset}");
        }
    }
    // Through the binary: the warning is shown when the count says more, and only then.
    for (offset, shown) in [(2i64, true), (-2, false)] {
        let env = Env::generated(73, 70).await;
        env.emu.set_count_offset(offset);
        let out = env
            .run_sync_bin(
                &[],
                &[("KRAKEN_API_KEY", KEY), ("KRAKEN_API_SECRET", SECRET)],
            )
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let n = env.dataset.ledger.len();
        let warning = format!(
            "ledgers: Kraken announced {} entries for this sync but {n} are stored; run `kraken-tax verify`",
            n + 2
        );
        assert_eq!(
            stderr(&out).contains(&warning),
            shown,
            "offset {offset}: {}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out).contains("Kraken announced"),
            shown,
            "{}",
            stderr(&out)
        );
    }
}

/// Key state in memory that records every nonce saved.
struct Recording {
    state: KeyState,
    saved: Arc<Mutex<Vec<u64>>>,
}

impl KeyStateStore for Recording {
    fn load(&mut self) -> Result<KeyState, KeyStateError> {
        Ok(self.state.clone())
    }
    fn save_nonce(&mut self, nonce: u64) -> Result<(), KeyStateError> {
        self.saved.lock().unwrap().push(nonce);
        Ok(())
    }
    fn save_counter(
        &mut self,
        _level: f64,
        _at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), KeyStateError> {
        Ok(())
    }
}

/// A client starts above the nonce saved by an earlier run even when that one is ahead of the
/// clock (another run raised the floor): nonces never go back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_saved_nonce_is_the_floor_at_start() {
    let env = Env::generated(74, 10).await;
    let ahead = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 3_600_000;
    let saved = Arc::new(Mutex::new(Vec::new()));
    let client = |last_nonce: u64| {
        let creds = Credentials::new(KEY, SECRET, "test").unwrap();
        let config = ClientConfig::new(parse_api_url(&env.emu.url()).unwrap(), env.tier);
        KrakenClient::new(
            config,
            creds,
            Box::new(Recording {
                state: KeyState {
                    last_nonce,
                    counter: None,
                },
                saved: saved.clone(),
            }),
        )
        .unwrap()
    };
    let mut first = client(ahead);
    first.balance().await.expect("first call");
    first.balance().await.expect("second call");
    assert_eq!(*saved.lock().unwrap(), vec![ahead + 1, ahead + 2]);
    // The next run starts from what the last one saved; the emulator accepts it (it has seen
    // `ahead + 2`, so a clock-based nonce would be refused).
    let mut next = client(ahead + 2);
    next.balance().await.expect("a later run");
    assert_eq!(saved.lock().unwrap().last(), Some(&(ahead + 3)));
    assert_eq!(env.emu.stats().rejected, 0);
    // The same through the database the sync uses (created and migrated by opening it).
    kraken_tax::store::Store::open(&env.db).unwrap();
    let fingerprint = Credentials::new(KEY, SECRET, "test").unwrap().fingerprint();
    kraken_tax::store::KeyStateDb::open(&env.db, &fingerprint)
        .unwrap()
        .save_nonce(ahead + 10)
        .unwrap();
    let mut from_db = env.client();
    from_db.balance().await.expect("a run with the database");
    assert_eq!(
        kraken_tax::store::KeyStateDb::open(&env.db, &fingerprint)
            .unwrap()
            .load()
            .unwrap()
            .0,
        ahead + 11
    );
    assert_eq!(env.emu.stats().rejected, 0);
}
