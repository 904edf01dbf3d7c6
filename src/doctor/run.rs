//! Gathers the facts `doctor` checks (files, database, read-only API probes) into a
//! [`Report`]; the command prints it.

use super::{self as dr, AuthOutcome, Check, CredentialFacts, DbFacts, DbState, Needed, Report};
use crate::config::DoctorPlan;
use crate::key_state::StoreKeyState;
use crate::kraken::probe::{self, Access, Probe};
use crate::kraken::{
    ApiError, ClientConfig, KeyStateStore, KrakenClient, KrakenError, MemoryKeyState, Retrier,
    RetryError, RetryPolicy,
};
use crate::secret::{CredentialError, Credentials};
use crate::store::{KeyEvent, KeyRecord, KeyStateDb, LockError, RunLock, Store};
use chrono::{DateTime, Utc};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PING_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs every check of `plan` and returns the report. Never creates the database; the probes
/// are read-only calls, skipped while a sync of the account holds the lock.
pub async fn diagnose(mut plan: DoctorPlan) -> Report {
    let now = Utc::now();
    let mut report = Report::default();
    report
        .checks
        .push(dr::config_check(plan.config_error.as_ref()));
    let key_file = plan.key_file.clone();
    // Taken out of the plan: the client consumes them.
    let loaded = std::mem::replace(&mut plan.credentials, Err(CredentialError::Missing));
    let credentials = loaded.map(|c| {
        let facts = CredentialFacts {
            origin: c.origin().to_owned(),
            path_from_config: plan.key_file_from_config,
            key_file_mode: key_file.as_deref().and_then(mode_of),
            secret_len: c.secret_bytes().len(),
            fingerprint: c.fingerprint(),
        };
        (c, facts)
    });
    report
        .checks
        .push(dr::credentials_check(credentials.as_ref().map(|(_, f)| f)));
    let api_url = reachable(&plan.api_url, &mut report).await;

    // Read the key's history before the probes add to it.
    let (db_state, store) = open_db(&plan.db);
    let fingerprint = credentials.as_ref().ok().map(|(c, _)| c.fingerprint());
    let key_facts = match (&store, &fingerprint) {
        (Some(store), Some(fp)) => key_facts(store, fp, now).map_err(Unread::Store),
        (None, Some(_)) if matches!(db_state, DbState::Missing(_)) => Ok((None, 0)),
        (None, Some(_)) => Err(Unread::Database),
        (_, None) => Err(Unread::NoCredentials),
    };
    let last_run = match &store {
        Some(store) => store.last_run(&plan.account).map_err(Unread::Store),
        None if matches!(db_state, DbState::Missing(_)) => Ok(None),
        None => Err(Unread::Database),
    };
    let probed = Probed {
        credentials,
        api_url,
        has_store: store.is_some(),
    };
    let invalid_nonces = probes(&plan, probed, &mut report).await;
    if let (Some(store), Some(fp)) = (&store, &fingerprint)
        && let Err(e) = store.record_key_event(fp, KeyEvent::InvalidNonce, invalid_nonces, now)
    {
        tracing::warn!("cannot record the refused nonces: {e}");
    }
    match &key_facts {
        Ok((record, recent)) => {
            report
                .checks
                .push(dr::nonce_check(record.as_ref(), recent + invalid_nonces));
            report.checks.push(dr::key_age_check(
                record.as_ref(),
                now,
                plan.rotate_after_days,
            ));
        }
        Err(why) => {
            let why = why.to_string();
            report.checks.push(Check::not_checked("nonce", &why));
            report.checks.push(Check::not_checked("key age", &why));
        }
    }
    report.checks.push(dr::database_check(&db_state));
    report.checks.push(match &last_run {
        Ok(run) => dr::last_sync_check(&plan.account, run.as_ref(), now),
        Err(why) => Check::not_checked("last sync", &why.to_string()),
    });
    report
}

/// The URL parsed and pinged: the URL when it answers.
async fn reachable(url_text: &str, report: &mut Report) -> Option<url::Url> {
    match crate::config::parse_base_url(url_text) {
        Ok(url) => {
            let ping = probe::ping(&url, PING_TIMEOUT).await;
            report
                .checks
                .push(dr::reachability_check(url_text, ping.as_ref().copied()));
            ping.is_ok().then_some(url)
        }
        Err(e) => {
            report.checks.push(dr::bad_url_check(&e));
            None
        }
    }
}

/// What the probes need.
struct Probed {
    credentials: Result<(Credentials, CredentialFacts), CredentialError>,
    api_url: Option<url::Url>,
    has_store: bool,
}

/// The probes, unless something already rules them out. A running sync holds the lock: our
/// calls would interleave with its nonces, so the probes wait for another time. Returns the
/// nonces Kraken refused.
async fn probes(plan: &DoctorPlan, p: Probed, report: &mut Report) -> u64 {
    let mut invalid_nonces = 0;
    let mut lock = None;
    let blocked = match (&p.credentials, &p.api_url) {
        (Err(_), _) => Some("no usable credentials".to_owned()),
        (_, None) => Some("the API cannot be reached".to_owned()),
        _ if p.has_store => match RunLock::acquire(&plan.db, &plan.account) {
            Ok(l) => {
                lock = Some(l);
                None
            }
            Err(e @ LockError::Held { .. }) => Some(e.to_string()),
            Err(LockError::Io { .. }) => None,
        },
        _ => None,
    };
    match (blocked, p.credentials, p.api_url) {
        (None, Ok((creds, _)), Some(url)) => {
            // Without a database the nonces stay in memory: doctor never creates one.
            let db_state = p
                .has_store
                .then(|| KeyStateDb::open(&plan.db, &creds.fingerprint()));
            let key_state: Box<dyn KeyStateStore + Send> = match db_state {
                Some(Ok(k)) => Box::new(StoreKeyState(k)),
                _ => Box::new(MemoryKeyState::default()),
            };
            let mut config = ClientConfig::new(url, plan.tier);
            config.connect_timeout = PING_TIMEOUT;
            config.request_timeout = CALL_TIMEOUT;
            match KrakenClient::new(config, creds, key_state) {
                Ok(mut client) => {
                    let found = run_probes(&mut client, &mut invalid_nonces).await;
                    report.checks.extend(found);
                }
                Err(e) => push_not_checked(&mut report.checks, &crate::text::chain(&e)),
            }
        }
        (Some(why), ..) => push_not_checked(&mut report.checks, &why),
        _ => push_not_checked(&mut report.checks, "no usable credentials"),
    }
    drop(lock);
    invalid_nonces
}

/// Why the checks that read the database's records could not run.
#[derive(Debug, thiserror::Error)]
enum Unread {
    /// The file exists but did not open.
    #[error("the database cannot be read")]
    Database,
    /// The key's records are found by its fingerprint.
    #[error("no usable credentials")]
    NoCredentials,
    /// A query failed.
    #[error(transparent)]
    Store(crate::store::StoreError),
}

fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// The key's record and its nonce refusals of the last days.
fn key_facts(
    store: &Store,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<(Option<KeyRecord>, u64), crate::store::StoreError> {
    let record = store.key_record(fingerprint)?;
    let since = now - chrono::Duration::days(dr::NONCE_WINDOW_DAYS);
    let recent = store.key_events_since(fingerprint, KeyEvent::InvalidNonce, since)?;
    Ok((record, recent))
}

/// Opens the database only if it exists: doctor never creates one.
fn open_db(path: &Path) -> (DbState, Option<Store>) {
    if !path.exists() {
        return (DbState::Missing(path.to_owned()), None);
    }
    let unreadable =
        |e: &dyn std::fmt::Display| DbState::Unreadable(path.to_owned(), e.to_string());
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => return (unreadable(&e), None),
    };
    let facts = (|| -> Result<DbFacts, crate::store::StoreError> {
        let meta = std::fs::metadata(path).map_err(|e| crate::store::StoreError::Open {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(DbFacts {
            path: path.to_owned(),
            size: meta.len(),
            schema: store.schema_version()?,
            integrity: store.integrity_check()?,
            mode: meta.permissions().mode() & 0o777,
            free: free_space(path),
        })
    })();
    match facts {
        Ok(f) => (DbState::Open(f), Some(store)),
        Err(e) => (unreadable(&e), None),
    }
}

/// Bytes available to this user on the file system holding `path`.
fn free_space(path: &Path) -> Option<u64> {
    let dir: PathBuf = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let s = rustix::fs::statvfs(&dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The lines that depend on the API, when it cannot be asked.
fn push_not_checked(checks: &mut Vec<Check>, why: &str) {
    checks.push(Check::not_checked("authentication", why));
    for needed in Needed::ALL {
        checks.push(dr::permission_check(needed, Err(why)));
    }
    checks.push(dr::withdraw_check(Err(why), Err(why)));
    checks.push(dr::trading_check());
}

/// One probe, through the retry rules `sync` uses, with a single attempt: an invalid nonce
/// moves the nonce ahead and is tried once more; anything else is reported as it is.
async fn probe_once(
    client: &mut KrakenClient,
    p: Probe,
    invalid_nonces: &mut u64,
) -> Result<Access, KrakenError> {
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let mut count = |e: &KrakenError, _: &_| {
        if matches!(
            e,
            KrakenError::Api {
                error: ApiError::InvalidNonce,
                ..
            }
        ) {
            *invalid_nonces += 1;
        }
    };
    Retrier::new(policy, None)
        .run(client, async |c| c.probe(p).await, &mut count)
        .await
        .map_err(RetryError::into_last)
}

/// Authentication, the four needed permissions, Withdraw Funds and the trading reminder.
async fn run_probes(client: &mut KrakenClient, invalid_nonces: &mut u64) -> Vec<Check> {
    let ledger = probe_once(client, Probe::Ledgers, invalid_nonces).await;
    let auth = match &ledger {
        Ok(_) => AuthOutcome::Accepted,
        Err(KrakenError::Api { error, .. }) => match error {
            ApiError::InvalidKey => AuthOutcome::InvalidKey,
            ApiError::InvalidSignature => AuthOutcome::InvalidSignature,
            ApiError::InvalidNonce => AuthOutcome::InvalidNonce,
            ApiError::TemporaryLockout => AuthOutcome::Lockout,
            other => AuthOutcome::Failed(format!("Kraken answered {other}")),
        },
        Err(e) => AuthOutcome::Failed(crate::text::chain(e)),
    };
    let mut checks = vec![dr::authentication_check(&auth)];
    if auth != AuthOutcome::Accepted {
        let mut rest = Vec::new();
        push_not_checked(&mut rest, "authentication failed");
        checks.extend(rest.into_iter().skip(1));
        return checks;
    }
    let mut results = vec![(Needed::Ledger, ledger)];
    for (needed, p) in [
        (Needed::Trades, Probe::Trades),
        (Needed::Funds, Probe::Funds),
        (Needed::Export, Probe::Export),
    ] {
        results.push((needed, probe_once(client, p, invalid_nonces).await));
    }
    let withdraw = probe_once(client, Probe::WithdrawInfo, invalid_nonces).await;
    let text = |r: &Result<Access, KrakenError>| match r {
        Ok(a) => Ok(*a),
        Err(e) => Err(crate::text::chain(e)),
    };
    let mut funds = Err("not probed".to_owned());
    for (needed, r) in &results {
        let r = text(r);
        checks.push(dr::permission_check(
            *needed,
            r.as_ref().map(|a| *a).map_err(String::as_str),
        ));
        if *needed == Needed::Funds {
            funds = r;
        }
    }
    let withdraw = text(&withdraw);
    checks.push(dr::withdraw_check(
        funds.as_ref().map(|a| *a).map_err(String::as_str),
        withdraw.as_ref().map(|a| *a).map_err(String::as_str),
    ));
    checks.push(dr::trading_check());
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_failure_is_said_with_its_causes_on_one_line() {
        let io = std::io::Error::other("disk full");
        let e = KrakenError::KeyState(crate::kraken::KeyStateError::record(io));
        assert_eq!(
            crate::text::chain(&e),
            "cannot record the API key's nonce or rate-limit state: disk full"
        );
    }
}
