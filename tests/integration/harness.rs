//! Shared test harness: a temporary database, the emulator on a free loopback port, and a
//! runner for the real binary.

use kraken_tax::domain::RateTier;
use kraken_tax::emulator::{
    Dataset, EmulatorConfig, EmulatorHandle, GeneratorConfig, generate_with_prices,
};
use kraken_tax::kraken::{ClientConfig, KrakenClient, RetryPolicy, parse_api_url};
use kraken_tax::secret::Credentials;
use kraken_tax::store::{KeyStateDb, Store};
use kraken_tax::sync::{StoreKeyState, SyncFailure, SyncOptions, SyncReport, sync_account};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// The emulator's test key: any non-empty text works.
pub const KEY: &str = "TESTKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM";
/// A 64-byte secret in base64 (Kraken's published test secret).
pub const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
/// Account name used by the tests.
pub const ACCOUNT: &str = "test";

/// Pro tier with the clock 1000x faster: 500 history calls per second at most, so tests never
/// wait for real rate limits, yet the client's pacing is exercised.
pub fn fast_tier() -> RateTier {
    RateTier::PRO.scaled(1000.0)
}

/// The default retry policy with waits shrunk to milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(2),
        cap: Duration::from_millis(40),
        max_attempts: 8,
        max_throttle_wait: Duration::from_secs(3),
    }
}

/// A temporary database and an emulator serving one dataset.
pub struct Env {
    /// Holds the database directory alive.
    pub dir: tempfile::TempDir,
    /// The database file.
    pub db: PathBuf,
    /// The running emulator.
    pub emu: EmulatorHandle,
    /// What the emulator serves.
    pub dataset: Dataset,
    /// The tier of both the emulator and the client.
    pub tier: RateTier,
}

impl Env {
    /// Generates an account and serves it, with public market data from the generator's
    /// own prices.
    pub async fn generated(seed: u64, entries: usize) -> Env {
        let (dataset, prices) = generate_with_prices(&GeneratorConfig::new(seed, entries));
        let env = Env::with_dataset(dataset).await;
        env.emu.public().set_prices(&prices);
        env
    }

    /// Serves `dataset`.
    pub async fn with_dataset(dataset: Dataset) -> Env {
        Env::with_tier(dataset, fast_tier()).await
    }

    /// Serves `dataset` with the emulator (and the in-process client) on `tier`.
    pub async fn with_tier(dataset: Dataset, tier: RateTier) -> Env {
        let emu = EmulatorHandle::start(
            dataset.clone(),
            EmulatorConfig {
                tier,
                api_key: KEY.to_owned(),
                api_secret_b64: SECRET.to_owned(),
                page_size: 50,
            },
        )
        .await
        .expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("test.sqlite");
        Env {
            dir,
            db,
            emu,
            dataset,
            tier,
        }
    }

    /// A client with the database's key state, as the `sync` command builds it.
    pub fn client(&self) -> KrakenClient {
        self.client_with_timeout(Duration::from_secs(60))
    }

    /// A client whose requests time out after `timeout`.
    pub fn client_with_timeout(&self, timeout: Duration) -> KrakenClient {
        Store::open(&self.db).unwrap();
        let creds = Credentials::new(KEY, SECRET, "test").unwrap();
        let key_state = KeyStateDb::open(&self.db, &creds.fingerprint()).unwrap();
        let mut config = ClientConfig::new(parse_api_url(&self.emu.url()).unwrap(), self.tier);
        config.request_timeout = timeout;
        config.connect_timeout = timeout;
        KrakenClient::new(config, creds, Box::new(StoreKeyState(key_state))).unwrap()
    }

    /// One sync run in-process, optionally stopped after `stop_after_pages` pages.
    pub async fn sync(&self, stop_after_pages: Option<u64>) -> Result<SyncReport, SyncFailure> {
        let mut store = Store::open(&self.db).unwrap();
        let mut client = self.client();
        let opts = SyncOptions {
            account: ACCOUNT.to_owned(),
            stop_after_pages,
            deadline: None,
            retry: fast_retry(),
        };
        sync_account(&mut store, &mut client, &opts, &mut |_| {}).await
    }

    /// Asserts that the database holds exactly the emulator's ground truth.
    pub fn assert_equals_ground_truth(&self) {
        let store = Store::open(&self.db).unwrap();
        let ledger = store.ledger_entries(ACCOUNT).unwrap();
        let trades = store.trades(ACCOUNT).unwrap();
        assert_eq!(
            ledger.len(),
            self.dataset.ledger.len(),
            "ledger entry count"
        );
        assert_eq!(trades.len(), self.dataset.trades.len(), "trade count");
        for (got, want) in ledger.iter().zip(&self.dataset.ledger) {
            assert_eq!(got, want);
        }
        for (got, want) in trades.iter().zip(&self.dataset.trades) {
            assert_eq!(got, want);
        }
        assert_eq!(store.conflict_count(ACCOUNT).unwrap(), 0);
    }

    /// A config file giving the binary millisecond retries and `attempts` attempts per call.
    pub fn fast_retry_config(&self, attempts: u32) -> PathBuf {
        let path = self.dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[sync]\nretry_base = \"2ms\"\nretry_cap = \"40ms\"\nretry_attempts = {attempts}\n"
            ),
        )
        .unwrap();
        path
    }

    /// A key file (mode 0600) for the binary.
    pub fn key_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("kraken.key");
        std::fs::write(&path, format!("{KEY}\n{SECRET}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Runs `kraken-tax sync` against this emulator, with a fast tier and no credentials in
    /// the environment unless `env` adds them.
    pub async fn run_sync_bin(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args: Vec<String> = vec![
            "sync".into(),
            "--db".into(),
            self.db.display().to_string(),
            "--account".into(),
            ACCOUNT.into(),
            "--api-url".into(),
            self.emu.url(),
            "--tier".into(),
            fast_tier().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run_bin(args, env).await
    }
}

/// Runs the real binary without blocking the runtime that serves the emulator.
pub async fn run_bin(args: Vec<String>, env: &[(&str, &str)]) -> Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kraken-tax"));
        cmd.args(&args)
            .env_remove("KRAKEN_API_KEY")
            .env_remove("KRAKEN_API_SECRET")
            .env_remove("KRAKEN_KEY_FILE")
            .env_remove("KRAKEN_API_URL")
            .env_remove("KRAKEN_TAX_CONFIG")
            .env_remove("RUST_LOG")
            .env("XDG_CONFIG_HOME", "/nonexistent-kraken-tax-test");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("binary runs")
    })
    .await
    .unwrap()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
