//! The one request path to Kraken: answer size cap, TLS and redirect errors, and the retry
//! rules shared by the sync, the backfill, the doctor and the public price fetch.

use crate::harness::{ACCOUNT, Env, KEY, SECRET, fast_retry};
use kraken_tax::kraken::{ClientConfig, KrakenClient, KrakenError, MemoryKeyState, parse_api_url};
use kraken_tax::secret::Credentials;
use kraken_tax::store::Store;
use kraken_tax::sync::{SyncError, SyncOptions, sync_account};

fn client(env: &Env, config: impl FnOnce(&mut ClientConfig)) -> KrakenClient {
    let creds = Credentials::new(KEY, SECRET, "test").unwrap();
    let mut c = ClientConfig::new(parse_api_url(&env.emu.url()).unwrap(), env.tier);
    config(&mut c);
    KrakenClient::new(c, creds, Box::new(MemoryKeyState::default())).unwrap()
}

fn sync_opts() -> SyncOptions {
    SyncOptions {
        account: ACCOUNT.to_owned(),
        stop_after_pages: None,
        deadline: None,
        retry: fast_retry(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_cap_is_refused_and_not_retried() {
    let env = Env::generated(301, 200).await;
    let mut client = client(&env, |c| c.max_body = 2000);
    let mut store = Store::open(&env.db).unwrap();
    let failure = sync_account(&mut store, &mut client, &sync_opts(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            SyncError::Kraken(KrakenError::TooLarge {
                method: "Ledgers",
                cap: 2000
            })
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(env.emu.stats().by_method.get("Ledgers"), Some(&1));
    assert_eq!(failure.report.retries.get("answer too large"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_queried_by_id_through_the_same_history_path() {
    use kraken_tax::domain::{LedgerEntry, Trade};
    let env = Env::generated(302, 200).await;
    let mut client = client(&env, |_| {});
    let want = [&env.dataset.ledger[3], &env.dataset.ledger[150]];
    let ids: Vec<&str> = want.iter().map(|e| e.id.as_str()).collect();
    let mut got: Vec<LedgerEntry> = client
        .query::<LedgerEntry>(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.item)
        .collect();
    got.sort_by_key(|e| e.time.micros());
    assert_eq!(got, want.map(Clone::clone));
    let trade = &env.dataset.trades[0];
    let got = client.query::<Trade>(&[trade.id.as_str()]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].item, trade);
    let calls = env.emu.stats().by_method;
    assert_eq!(
        (calls.get("QueryLedgers"), calls.get("QueryTrades")),
        (Some(&1), Some(&1))
    );
}
