//! `kraken-tax doctor` against the emulator: every branch, with exact lines. Variable parts
//! (times, sizes, nonces) are masked before comparing; everything else must match.

use crate::harness::{ACCOUNT, Env, fast_tier, run_bin, stderr};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kraken_tax::emulator::{Fault, KeyOptions, Permission};
use kraken_tax::secret::Credentials;
use kraken_tax::store::Store;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const NEEDED: [Permission; 4] = [
    Permission::QueryLedger,
    Permission::QueryClosedOrders,
    Permission::QueryFunds,
    Permission::ExportData,
];

const ORDERS_LINE: &str = "warning permissions for orders and deposits: cannot be checked without placing or cancelling an order, so kraken-tax does not try -> make sure Create & Modify Orders, Cancel/Close Orders and Deposit Funds are unticked: kraken-tax never needs them";
const AGAIN: &str = "fix the problem above, then run `kraken-tax doctor` again";

/// A secret unlike the harness's, 64 bytes as Kraken's.
fn secret_for(key: &str) -> String {
    let bytes: Vec<u8> = (0..64u32)
        .map(|i| (i * 37 + 11 + key.len() as u32) as u8)
        .collect();
    STANDARD.encode(bytes)
}

fn key_name(tag: &str) -> String {
    format!("DOCTORKEY{tag}0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
}

/// Adds `tag`'s key to the emulator and writes its key file (mode 0600).
fn add_key(env: &Env, tag: &str, options: KeyOptions) -> (String, String, PathBuf) {
    let key = key_name(tag);
    let secret = secret_for(&key);
    env.emu.add_key(&key, &secret, options).unwrap();
    let path = env.dir.path().join(format!("{tag}.key"));
    std::fs::write(&path, format!("{key}\n{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (key, secret, path)
}

fn fingerprint(key: &str, secret: &str) -> String {
    Credentials::new(key, secret, "t").unwrap().fingerprint()
}

async fn doctor(env: &Env, url: &str, key_file: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "doctor".into(),
        "--db".into(),
        env.db.display().to_string(),
        "--account".into(),
        ACCOUNT.into(),
        "--api-url".into(),
        url.into(),
        "--tier".into(),
        fast_tier().to_string(),
        "--key-file".into(),
        key_file.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run_bin(args, &[]).await
}

/// Neither the key, nor the secret, nor any 8 characters of the secret appear anywhere.
fn assert_no_secret(out: &Output, key: &str, secret: &str) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(key), "the key was printed");
    for i in 0..=secret.len() - 8 {
        assert!(
            !all.contains(&secret[i..i + 8]),
            "part of the secret was printed: {}",
            &secret[i..i + 8]
        );
    }
}

/// Replaces what lies between `start` and the next `end` (exclusive) with `with`.
fn mask(line: &str, start: &str, end: &str, with: &str) -> String {
    let Some(a) = line.find(start).map(|i| i + start.len()) else {
        return line.to_owned();
    };
    let b = line[a..].find(end).map_or(line.len(), |i| a + i);
    format!("{}{with}{}", &line[..a], &line[b..])
}

/// stdout's lines with times, sizes and nonces masked.
fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let l = mask(l, " answered in ", " ms", "N");
            let l = mask(&l, "last nonce ", ")", "N (T");
            let l = mask(&l, "first used with this database on ", " (", "T");
            let l = mask(&l, "last sync: complete at ", " (", "T");
            let l = mask(&l, ".sqlite, ", ", schema", "SIZE");
            mask(&l, "integrity ok, mode 0600, ", " free", "FREE")
        })
        .collect()
}

fn schema_version(db: &Path) -> i64 {
    Store::open(db).unwrap().schema_version().unwrap()
}

fn db_line(db: &Path) -> String {
    format!(
        "ok      database: {}, SIZE, schema {}, integrity ok, mode 0600, FREE free",
        db.display(),
        schema_version(db)
    )
}

fn not_checked_api(why: &str) -> Vec<String> {
    let mut v = vec![format!(
        "warning authentication: not checked: {why} -> {AGAIN}"
    )];
    for p in [
        "Query Ledger Entries",
        "Query Closed Orders & Trades",
        "Query Funds",
        "Export Data",
        "Withdraw Funds",
    ] {
        v.push(format!(
            "warning permission {p}: not checked: {why} -> {AGAIN}"
        ));
    }
    v.push(ORDERS_LINE.to_owned());
    v
}

async fn sync_with(env: &Env, key_file: &Path) {
    let out = env
        .run_sync_bin(&["--key-file", key_file.to_str().unwrap(), "-q"], &[])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_all_ok_but_the_order_reminder() {
    let env = Env::generated(91, 120).await;
    let (key, secret, kf) = add_key(&env, "OK", KeyOptions::with(&NEEDED));
    sync_with(&env, &kf).await;
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let url = env.emu.url();
    let expected = vec![
        "ok      config: no API key or secret in the config file".to_owned(),
        format!(
            "ok      credentials: from key file {}, mode 0600, key fingerprint {}, secret well-formed",
            kf.display(),
            fingerprint(&key, &secret)
        ),
        format!("ok      api: {url} answered in N ms"),
        "ok      authentication: Kraken accepted the key and signature; no 2FA password is required".to_owned(),
        "ok      permission Query Ledger Entries: granted: `sync` downloads the ledger".to_owned(),
        "ok      permission Query Closed Orders & Trades: granted: `sync` downloads the trades".to_owned(),
        "ok      permission Query Funds: granted: `verify` compares with Kraken's balances".to_owned(),
        "ok      permission Export Data: granted: `sync --backfill export` can fetch the history in bulk".to_owned(),
        "ok      permission Withdraw Funds: not granted, as it should be".to_owned(),
        ORDERS_LINE.to_owned(),
        "ok      nonce: last nonce N (T)".to_owned(),
        "ok      key age: first used with this database on T (0 days ago); rotation reminder after 180 days".to_owned(),
        db_line(&env.db),
        "ok      last sync: complete at T (0 hours ago)".to_owned(),
        "0 problems, 1 warning".to_owned(),
    ];
    assert_eq!(lines(&out), expected);
    assert_eq!(stderr(&out), "");

    // The same as JSON.
    let out = doctor(&env, &env.emu.url(), &kf, &["--json"]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"], 0);
    assert_eq!(v["warnings"], 1);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 14);
    assert_eq!(checks[8]["name"], "permission Withdraw Funds");
    assert_eq!(checks[8]["status"], "ok");
    assert_eq!(checks[9]["status"], "warning");
    assert_eq!(
        checks[9]["advice"],
        "make sure Create & Modify Orders, Cancel/Close Orders and Deposit Funds are unticked: kraken-tax never needs them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_permission_is_named_with_what_it_costs() {
    let env = Env::generated(92, 30).await;
    let cases = [
        (
            Permission::QueryLedger,
            "problem permission Query Ledger Entries: missing: `sync` downloads the ledger only with it -> tick \"Query Ledger Entries\" in Kraken's API key settings",
            1,
        ),
        (
            Permission::QueryClosedOrders,
            "problem permission Query Closed Orders & Trades: missing: `sync` downloads the trades only with it -> tick \"Query Closed Orders & Trades\" in Kraken's API key settings",
            1,
        ),
        (
            Permission::QueryFunds,
            "warning permission Query Funds: missing: only `verify` compares with Kraken's balances with it -> tick \"Query Funds\" in Kraken's API key settings if you want that",
            0,
        ),
        (
            Permission::ExportData,
            "warning permission Export Data: missing: only `sync --backfill export` can fetch the history in bulk with it -> tick \"Export Data\" in Kraken's API key settings if you want that",
            0,
        ),
    ];
    for (i, (missing, line, code)) in cases.into_iter().enumerate() {
        let others: Vec<Permission> = NEEDED.into_iter().filter(|p| *p != missing).collect();
        let (key, secret, kf) = add_key(&env, &format!("M{i}"), KeyOptions::with(&others));
        let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
        assert_no_secret(&out, &key, &secret);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{missing:?}: {}",
            stderr(&out)
        );
        let got = lines(&out);
        assert_eq!(got[4 + i], line, "{missing:?}");
        // Only that one is missing.
        for (j, l) in got[4..8].iter().enumerate() {
            assert_eq!(l.starts_with("ok "), j != i, "{l}");
        }
        let withdraw = if missing == Permission::QueryFunds {
            "warning permission Withdraw Funds: cannot be checked: Kraken's read-only withdrawal query also needs Query Funds -> make sure Withdraw Funds is unticked: kraken-tax never needs it"
        } else {
            "ok      permission Withdraw Funds: not granted, as it should be"
        };
        assert_eq!(got[8], withdraw);
        if code == 1 {
            assert_eq!(
                stderr(&out),
                "error: doctor found 1 problem; see the lines marked \"problem\"\n"
            );
        }
    }
    // No probe ever reached a method that could trade or move funds.
    let stats = env.emu.stats();
    for method in stats.by_method.keys() {
        assert!(
            ["Ledgers", "TradesHistory", "Balance", "ExportStatus"].contains(&method.as_str()),
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_can_withdraw_is_a_problem() {
    let env = Env::generated(93, 30).await;
    let mut perms = NEEDED.to_vec();
    perms.push(Permission::WithdrawFunds);
    let (key, secret, kf) = add_key(&env, "W", KeyOptions::with(&perms));
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines(&out)[8],
        "problem permission Withdraw Funds: granted: anyone holding this key can move your funds off Kraken -> untick Withdraw Funds in Kraken's API key settings (or create a new key without it): kraken-tax never needs it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_2fa_is_recognised_by_its_invalid_signature() {
    let env = Env::generated(94, 30).await;
    let mut options = KeyOptions::with(&NEEDED);
    options.otp = Some("246810".into());
    let (key, secret, kf) = add_key(&env, "OTP", options);
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(
        got[3],
        "problem authentication: Kraken refused the signature of a well-formed secret: the key probably has 2FA (a password or OTP) enabled, or the secret belongs to another key -> kraken-tax cannot send a 2FA password: create a key without 2FA and restrict it to your IP addresses instead, or copy the Private Key of this key again"
    );
    assert_eq!(got[4..10], not_checked_api("authentication failed")[1..]);
    // One refused call: doctor does not hammer a failing key towards a lockout.
    assert_eq!(env.emu.stats().rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_readable_by_others_is_a_problem_and_nothing_is_sent() {
    let env = Env::generated(95, 30).await;
    let (key, secret, kf) = add_key(&env, "MODE", KeyOptions::with(&NEEDED));
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(
        got[1],
        format!(
            "problem credentials: key file {0} has mode 0644: other users can read it -> run `chmod 600 {0}`; replace the key in Kraken if others may have read it",
            kf.display()
        )
    );
    assert_eq!(got[3..10], not_checked_api("no usable credentials"));
    assert_eq!(
        got[10],
        format!("warning nonce: not checked: no usable credentials -> {AGAIN}")
    );
    assert_eq!(
        got[12],
        format!(
            "warning database: no database at {} yet -> the first `kraken-tax sync` creates it (or pass --db PATH)",
            env.db.display()
        )
    );
    assert!(!env.db.exists(), "doctor never creates the database");
    assert_eq!(
        env.emu.stats().rejected + env.emu.stats().by_method.len() as u64,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_url_is_a_problem() {
    let env = Env::generated(96, 30).await;
    let (key, secret, kf) = add_key(&env, "NET", KeyOptions::with(&NEEDED));
    // A port that was just free and is now closed: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = doctor(&env, &url, &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(
        got[2],
        format!(
            "problem api: cannot reach {url}: connection failed -> check the network, a proxy or firewall, and --api-url / KRAKEN_API_URL; Kraken's status page is https://status.kraken.com"
        )
    );
    assert_eq!(got[3..10], not_checked_api("the API cannot be reached"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_sync_and_an_old_key_are_warnings() {
    let env = Env::generated(97, 60).await;
    let (key, secret, kf) = add_key(&env, "OLD", KeyOptions::with(&NEEDED));
    sync_with(&env, &kf).await;
    let three_days_ago = (chrono::Utc::now() - chrono::Duration::hours(72)).to_rfc3339();
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(200)).to_rfc3339();
    {
        let conn = rusqlite::Connection::open(&env.db).unwrap();
        conn.execute(
            "UPDATE sync_runs SET started_at = ?1, finished_at = ?1",
            [&three_days_ago],
        )
        .unwrap();
        conn.execute("UPDATE key_state SET first_used = ?1", [&long_ago])
            .unwrap();
    }
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings only: {}",
        stderr(&out)
    );
    let got = lines(&out);
    assert_eq!(
        got[11],
        "warning key age: first used with this database on T (200 days ago), more than 180 days -> rotate it: create a new key in Kraken with the same permissions, write it to a new key file (chmod 600), point --key-file or [sync] key_file at it, run `kraken-tax doctor`, then delete the old key in Kraken; the history is kept per account, not per key"
    );
    assert_eq!(
        got[13],
        "warning last sync: complete at T (72 hours ago) -> older than 48 hours: the cron job may have stopped; check `crontab -l` and its mail or log"
    );
    assert_eq!(got[14], "0 problems, 3 warnings");

    // The reminder's age is configurable.
    let config = env.dir.path().join("doctor.toml");
    std::fs::write(&config, "[doctor]\nrotate_after_days = 365\n").unwrap();
    let out = doctor(
        &env,
        &env.emu.url(),
        &kf,
        &["--config", config.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        lines(&out)[11],
        "ok      key age: first used with this database on T (200 days ago); rotation reminder after 365 days"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_is_a_problem() {
    let env = Env::generated(98, 30).await;
    let (key, secret, kf) = add_key(&env, "BAD", KeyOptions::with(&NEEDED));
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&env.db, &garbage).unwrap();
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    let unreadable = format!("warning nonce: not checked: the database cannot be read -> {AGAIN}");
    assert_eq!(got[10], unreadable);
    assert_eq!(
        got[12],
        format!(
            "problem database: {} cannot be used: the file is not a kraken-tax database (not SQLite, encrypted, or its header is damaged) -> restore it from a backup, or move it aside and sync again (the whole history is downloaded again)",
            env.db.display()
        )
    );
    assert_eq!(
        got[13],
        format!("warning last sync: not checked: the database cannot be read -> {AGAIN}")
    );
    // The garbage is left as it was.
    assert_eq!(std::fs::read(&env.db).unwrap(), garbage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_nonces_are_remembered_and_reported() {
    let env = Env::generated(99, 30).await;
    let (key, secret, kf) = add_key(&env, "NONCE", KeyOptions::with(&NEEDED));
    sync_with(&env, &kf).await;
    // Another program's nonce got there first, once.
    env.emu
        .push_fault(Fault::KrakenError("EAPI:Invalid nonce".into()));
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(
        got[3],
        "ok      authentication: Kraken accepted the key and signature; no 2FA password is required"
    );
    assert_eq!(
        got[10],
        "warning nonce: last nonce N (T); Kraken refused 1 nonce of this key in the last 7 days: another program seems to use the same key -> give kraken-tax an API key of its own (one key per application)"
    );
    // Remembered for the next run.
    let out = doctor(&env, &env.emu.url(), &kf, &[]).await;
    assert!(lines(&out)[10].contains("refused 1 nonce of"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_the_config_file_is_a_problem_and_not_shown() {
    let env = Env::generated(100, 30).await;
    let (key, secret, kf) = add_key(&env, "CFG", KeyOptions::with(&NEEDED));
    let config = env.dir.path().join("bad.toml");
    std::fs::write(&config, format!("[sync]\napi_secret = \"{secret}\"\n")).unwrap();
    let out = doctor(
        &env,
        &env.emu.url(),
        &kf,
        &["--config", config.to_str().unwrap()],
    )
    .await;
    assert_no_secret(&out, &key, &secret);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines(&out)[0],
        format!(
            "problem config: config file {} holds an API key or secret in clear text -> remove it from the config file, put the key and secret on two lines of a file, `chmod 600` it and pass --key-file PATH (or set [sync] key_file); then replace the key in Kraken, since others may have read it",
            config.display()
        )
    );
}
