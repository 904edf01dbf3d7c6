//! The one request path to Kraken: answer size cap, TLS and redirect errors, and the retry
//! rules shared by the sync, the backfill, the doctor and the public price fetch.

use crate::harness::{ACCOUNT, Env, KEY, SECRET, fast_retry, fast_tier, run_bin, stderr};
use kraken_tax::emulator::Fault;
use kraken_tax::kraken::{
    ApiError, ClientConfig, KeyState, KeyStateError, KeyStateStore, KrakenClient, KrakenError,
    MemoryKeyState, RetryPolicy, parse_api_url,
};
use kraken_tax::secret::Credentials;
use kraken_tax::store::Store;
use kraken_tax::sync::{
    BackfillError, BackfillMode, BackfillOptions, SyncError, SyncOptions, backfill, sync_account,
};
use std::time::{Duration, Instant};

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

fn backfill_opts(policy: RetryPolicy) -> BackfillOptions {
    let mut o = BackfillOptions::new(ACCOUNT, BackfillMode::Export, policy);
    o.poll_first = Duration::from_millis(20);
    o.poll_max = Duration::from_millis(100);
    o
}

/// The backfill's retries used to sleep whatever the backoff said, past `--max-duration`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_retry_never_waits_past_the_deadline() {
    let env = Env::generated(303, 100).await;
    env.emu.set_export_delay(Duration::ZERO);
    env.emu.push_fault(Fault::HttpStatus(503));
    let slow = RetryPolicy {
        base: Duration::from_secs(20),
        cap: Duration::from_secs(40),
        ..fast_retry()
    };
    let mut opts = backfill_opts(slow);
    opts.deadline = Some(Instant::now() + Duration::from_secs(2));
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    let started = Instant::now();
    let run = backfill(&mut store, &mut client, &opts);
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the backfill ends before its deadline, not after the backoff");
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = result.unwrap_err();
    assert!(err.is_temporary());
    assert_eq!(
        err.to_string(),
        "the time budget is spent before Kraken could be asked again"
    );
    let BackfillError::TimeBudget { last } = err else {
        panic!("{err:?}");
    };
    assert_eq!(
        last.to_string(),
        "Kraken answered AddExport with HTTP 503; try again later"
    );
    assert_eq!(env.emu.stats().by_method.get("AddExport"), None);
}

/// The backfill's retries used to forget, call by call, that the nonce floor was raised
/// already: a key used by another program was resynced again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_resyncs_the_nonce_once_per_run() {
    let env = Env::generated(304, 100).await;
    env.emu.set_export_delay(Duration::from_millis(1500));
    // Another program's nonce got there first: the first AddExport is refused.
    env.emu
        .push_fault(Fault::KrakenError("EAPI:Invalid nonce".into()));
    let mut opts = backfill_opts(fast_retry());
    opts.poll_first = Duration::from_millis(500);
    opts.poll_max = Duration::from_millis(500);
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    // And again while the backfill waits for the report, after its first poll.
    let watcher = async {
        while !env.emu.stats().by_method.contains_key("ExportStatus") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        env.emu
            .push_fault(Fault::KrakenError("EAPI:Invalid nonce".into()));
    };
    let (result, ()) = tokio::join!(backfill(&mut store, &mut client, &opts), watcher);
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            BackfillError::Kraken(KrakenError::Api {
                method: "ExportStatus",
                error: ApiError::InvalidNonce
            })
        ),
        "{err:?}"
    );
    let stats = env.emu.stats();
    assert_eq!(stats.by_method.get("AddExport"), Some(&2));
    assert_eq!(stats.by_method.get("ExportStatus"), Some(&1));
    assert_eq!(stats.faults.get("EAPI:Invalid nonce"), Some(&2));
}

async fn sync_bin(env: &Env, url: &str) -> std::process::Output {
    let key_file = env.key_file();
    let args = [
        "sync",
        "--db",
        env.db.to_str().unwrap(),
        "--account",
        ACCOUNT,
        "--api-url",
        url,
        "--tier",
        &fast_tier().to_string(),
        "--key-file",
        key_file.to_str().unwrap(),
        "--config",
        env.fast_retry_config(3).to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    run_bin(args, &[]).await
}

/// An `https://` URL to a plain-HTTP server used to end as "connection failed", retried, exit 75.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_url_to_a_plain_server_is_a_configuration_error() {
    let env = Env::generated(305, 30).await;
    let url = env.emu.url().replace("http://", "https://");
    let out = sync_bin(&env, &url).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().last().unwrap(),
        "error: TLS with the API address failed for Ledgers: it serves no HTTPS there, or its certificate is not trusted; check --api-url (plain http:// is for the loopback emulator)"
    );
    assert_eq!(env.emu.stats().rejected, 0);
    assert!(env.emu.stats().by_method.is_empty());
}

/// A loopback server answering every request with `answer`.
async fn serve(answer: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// A redirect used to be followed (a signed POST sent elsewhere) or, unfollowed, retried as an
/// HTTP error until exit 75.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_url_is_a_configuration_error_and_not_followed() {
    let env = Env::generated(306, 30).await;
    let target = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: {target}/0/private/Ledgers\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let url = serve(answer).await;
    let out = sync_bin(&env, &url).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().last().unwrap(),
        format!(
            "error: the API address redirects Ledgers (HTTP 308) to {target}/0/private/Ledgers: --api-url must be the API itself, such as https://api.kraken.com"
        )
    );
}

/// A key state store whose disk is full.
struct DiskFull;

impl KeyStateStore for DiskFull {
    fn load(&mut self) -> Result<KeyState, KeyStateError> {
        Ok(KeyState::default())
    }
    fn save_nonce(&mut self, _: u64) -> Result<(), KeyStateError> {
        Err(KeyStateError::record(std::io::Error::other("disk full")))
    }
    fn save_counter(
        &mut self,
        _: f64,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), KeyStateError> {
        Ok(())
    }
}

/// A nonce that cannot be saved stops the run before any request, and the message names its
/// cause once (it used to reach the caller as text, said twice: "X: X").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_that_cannot_be_saved_names_its_cause_once() {
    let env = Env::generated(307, 30).await;
    let creds = Credentials::new(KEY, SECRET, "test").unwrap();
    let config = ClientConfig::new(parse_api_url(&env.emu.url()).unwrap(), env.tier);
    let mut client = KrakenClient::new(config, creds, Box::new(DiskFull)).unwrap();
    let mut store = Store::open(&env.db).unwrap();
    let failure = sync_account(&mut store, &mut client, &sync_opts(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        format!("{:#}", anyhow::Error::new(failure.error)),
        "cannot record the API key's nonce or rate-limit state: disk full"
    );
    assert_eq!(env.emu.stats().rejected, 0);
    assert!(env.emu.stats().by_method.is_empty());
}

/// The sync's retries stop at the deadline too: a time budget, exit 75, progress kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_retry_never_waits_past_the_deadline() {
    let env = Env::generated(308, 30).await;
    env.emu.push_fault(Fault::HttpStatus(502));
    let mut opts = sync_opts();
    opts.retry.base = Duration::from_secs(20);
    opts.retry.cap = Duration::from_secs(40);
    opts.deadline = Some(Instant::now() + Duration::from_secs(2));
    let mut store = Store::open(&env.db).unwrap();
    let mut client = env.client();
    let started = Instant::now();
    let failure = sync_account(&mut store, &mut client, &opts, &mut |_| {})
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(failure.error, SyncError::TimeBudget(0)),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.report.retries.get("HTTP 502"), Some(&1));
}
