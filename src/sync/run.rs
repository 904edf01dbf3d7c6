//! One sync run of an account, its whole lifecycle: the lock, the run record, the export
//! backfill, the paged sync, the key's refused nonces, the checks after the sync and the
//! refresh of the derived classification. The command only builds the [`SyncPlan`], shows
//! progress and maps a [`RunError`] to an exit code.

use super::{
    BackfillError, BackfillMode, BackfillOptions, ProgressEvent, StoreKeyState, SyncError,
    SyncOptions, SyncReport, backfill, sync_account_into,
};
use crate::classify::Rules;
use crate::classify::build::ensure_fresh;
use crate::domain::RateTier;
use crate::kraken::{ApiError, ClientConfig, KrakenClient, KrakenError, RetryPolicy};
use crate::normalize::assets::AssetTable;
use crate::secret::Credentials;
use crate::store::{
    KeyEvent, KeyStateDb, LockError, RunLock, RunOutcome, RunTotals, Store, StoreError,
    VerifyTrigger,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

/// Everything a sync run needs, resolved (see `config::sync_plan`).
#[derive(Debug)]
pub struct SyncPlan {
    /// The database file.
    pub db: PathBuf,
    /// The account name in the database.
    pub account: String,
    /// Kraken's base URL.
    pub api_url: Url,
    /// The account's rate-limit tier.
    pub tier: RateTier,
    /// The API key and secret.
    pub credentials: Credentials,
    /// Time budget of the run (exit 75 when spent, progress kept).
    pub max_duration: Option<Duration>,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
    /// First fill never-synced history through the export API?
    pub backfill: BackfillMode,
    /// Classification rules for the refresh after the sync.
    pub rules: Rules,
    /// `--alert-after` / `[sync] alert_after`: see [`alert_decision`].
    pub alert_after: Option<Duration>,
}

/// What a run shows while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// Progress of the paged sync.
    Progress(ProgressEvent),
    /// The backfill imported one exported stream.
    Imported {
        /// `ledgers` or `trades`.
        kind: &'static str,
        /// Rows in the export.
        rows: u64,
        /// Of those, new ones.
        inserted: u64,
    },
}

/// Why a run stopped. Everything committed before it stays; the run record says how it ended.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run lock: held by another run (retry later) or unusable.
    #[error(transparent)]
    Lock(LockError),
    /// The database did not open, or was damaged or unwritable (named with the file).
    #[error(transparent)]
    Database(StoreError),
    /// The run record could not be written.
    #[error(transparent)]
    Record(StoreError),
    /// The client could not be set up.
    #[error(transparent)]
    Client(KrakenError),
    /// The export backfill needs a permission the key lacks.
    #[error(
        "the export backfill needs the \"Export Data\" permission (or use --backfill auto to page instead)"
    )]
    BackfillPermission(#[source] KrakenError),
    /// The backfill stopped for a reason that passes (retry later).
    #[error("backfill interrupted; run sync again later to resume it")]
    BackfillInterrupted(#[source] BackfillError),
    /// The backfill failed otherwise.
    #[error(transparent)]
    Backfill(BackfillError),
    /// Kraken refused the nonce even after a resync: another user of the key.
    #[error(
        "Kraken keeps refusing the nonce: another program (or another kraken-tax database) is probably using this API key; give kraken-tax a key of its own"
    )]
    NonceRefused(#[source] KrakenError),
    /// Kraken could not be reached for now (retry later).
    #[error("sync interrupted; progress is saved, run it again later")]
    Interrupted(#[source] KrakenError),
    /// The sync failed otherwise.
    #[error(transparent)]
    Sync(SyncError),
    /// SIGINT or SIGTERM.
    #[error("interrupted by {0}; progress is saved, the next run resumes")]
    Signal(&'static str),
}

/// How a run error ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A usage or configuration problem: fix the setup.
    Configuration,
    /// Passing: run again later, the progress is kept.
    Temporary,
    /// A failure: bad data, a bug, a broken database.
    Failure,
}

impl RunError {
    /// Which kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self {
            RunError::Lock(LockError::Held { .. }) => Temporary,
            RunError::BackfillPermission(_) | RunError::NonceRefused(_) => Configuration,
            RunError::Backfill(BackfillError::Kraken(e)) if e.is_configuration() => Configuration,
            RunError::Sync(SyncError::Kraken(e)) if e.is_configuration() => Configuration,
            RunError::BackfillInterrupted(_) | RunError::Interrupted(_) | RunError::Signal(_) => {
                Temporary
            }
            RunError::Sync(SyncError::Stopped(_) | SyncError::TimeBudget(_)) => Temporary,
            _ => Failure,
        }
    }

    fn from_backfill(error: BackfillError) -> Self {
        match error {
            BackfillError::Kraken(e @ KrakenError::PermissionDenied { .. }) => {
                RunError::BackfillPermission(e)
            }
            BackfillError::Kraken(e) if e.is_configuration() => {
                RunError::Backfill(BackfillError::Kraken(e))
            }
            e if e.is_temporary() => RunError::BackfillInterrupted(e),
            e => RunError::Backfill(e),
        }
    }

    fn from_sync(error: SyncError) -> Self {
        match error {
            SyncError::Kraken(
                e @ KrakenError::Api {
                    error: ApiError::InvalidNonce,
                    ..
                },
            ) => RunError::NonceRefused(e),
            SyncError::Kraken(e) if !e.is_configuration() && e.is_temporary() => {
                RunError::Interrupted(e)
            }
            other => RunError::Sync(other),
        }
    }
}

/// Runs one sync of `plan.account`: see the module docs. `on_event` sees the progress.
pub async fn run(
    plan: SyncPlan,
    on_event: &mut dyn FnMut(RunEvent),
) -> Result<SyncReport, RunError> {
    // The lock comes first: a second run must not even send a request (it would spoil the
    // running one's nonce sequence).
    let lock = RunLock::acquire(&plan.db, &plan.account).map_err(RunError::Lock)?;
    // Listen for SIGINT / SIGTERM from here on: a signal that arrives while the database is
    // opened and checked is kept and ends the run before its first page, recorded.
    let mut signals = Termination::install();
    if let Some(previous) = &lock.stale_holder {
        tracing::info!(
            "the previous sync ({previous}) ended without releasing its lock; continuing where it stopped"
        );
    }
    let db = &plan.db;
    let account = plan.account.as_str();
    let mut store = Store::open_checked(db).map_err(RunError::Database)?;
    let fingerprint = plan.credentials.fingerprint();
    let key_state = KeyStateDb::open(db, &fingerprint).map_err(RunError::Database)?;
    let mut client = KrakenClient::new(
        ClientConfig::new(plan.api_url.clone(), plan.tier),
        plan.credentials,
        Box::new(StoreKeyState(key_state)),
    )
    .map_err(RunError::Client)?;
    let run_id = store.begin_run(account).map_err(RunError::Record)?;
    let opts = SyncOptions {
        account: account.to_owned(),
        stop_after_pages: None,
        deadline: plan.max_duration.map(|d| Instant::now() + d),
        retry: plan.retry,
    };
    let mut bopts = BackfillOptions::new(account, plan.backfill, opts.retry.clone());
    bopts.deadline = opts.deadline;
    let mut report = SyncReport::default();
    let result = fill(
        &mut store,
        &mut client,
        &opts,
        &bopts,
        &mut report,
        on_event,
        &mut signals,
    )
    .await;
    let failed = result
        .as_ref()
        .err()
        .map(|e| (e.kind(), crate::text::chain(e)));
    let outcome = match &failed {
        None => RunOutcome::Ok,
        Some((ErrorKind::Temporary, _)) => RunOutcome::Interrupted,
        Some(_) => RunOutcome::Failed,
    };
    // Each was kept for `status` when it was stored (by the page or the backfill's import).
    for (kind, (n, example)) in &report.unknown_types {
        tracing::warn!(
            "stored {n} ledger entr{} of unknown type {kind:?} (e.g. {example}); they are kept and will be reported as unclassified",
            if *n == 1 { "y" } else { "ies" }
        );
    }
    let totals = totals(&client, &report);
    let detail = failed.map(|(_, d)| d);
    store
        .finish_run(run_id, outcome, detail.as_deref(), &totals)
        .map_err(RunError::Record)?;
    // For `doctor`: refused nonces mean another program may be using this key.
    let refused = report
        .retries
        .get("EAPI:Invalid nonce")
        .copied()
        .unwrap_or(0);
    let _ = store.record_key_event(
        &fingerprint,
        KeyEvent::InvalidNonce,
        refused,
        chrono::Utc::now(),
    );
    result?;
    after_sync(&store, account, run_id).map_err(RunError::Database)?;
    drop(lock);
    drop(store);
    refresh_classification(db, account, &plan.rules).map_err(RunError::Database)?;
    Ok(report)
}

/// The backfill, then the paged sync, until done or a signal: SIGINT / SIGTERM drop the work
/// between two awaits, and a page is either committed with its cursor or not at all, so the
/// next run resumes exactly.
async fn fill(
    store: &mut Store,
    client: &mut KrakenClient,
    opts: &SyncOptions,
    bopts: &BackfillOptions,
    report: &mut SyncReport,
    on_event: &mut dyn FnMut(RunEvent),
    signals: &mut Termination,
) -> Result<(), RunError> {
    let work = async {
        let b = backfill(store, client, bopts)
            .await
            .map_err(RunError::from_backfill)?;
        for f in &b.imported {
            // The run record counts what the backfill stored, too.
            let stream = crate::csv_import::stream_of(f.kind).as_str();
            report.streams.entry(stream).or_default().new += f.outcome.inserted;
            for (kind, (n, example)) in &f.unknown_types {
                let slot = report.unknown_types.entry(kind.clone());
                slot.or_insert((0, example.clone())).0 += n;
            }
            on_event(RunEvent::Imported {
                kind: f.kind.as_str(),
                rows: f.rows,
                inserted: f.outcome.inserted,
            });
        }
        let mut progress = |ev: ProgressEvent| on_event(RunEvent::Progress(ev));
        sync_account_into(store, client, opts, &mut progress, report)
            .await
            .map_err(RunError::from_sync)
    };
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => r,
        signal = signals.received() => Err(RunError::Signal(signal)),
    }
}

/// The run record's counters.
fn totals(client: &KrakenClient, report: &SyncReport) -> RunTotals {
    let stats = client.stats();
    RunTotals {
        calls: stats.calls.values().sum(),
        new_ledger: report.streams.get("ledgers").map_or(0, |r| r.new),
        new_trades: report.streams.get("trades").map_or(0, |r| r.new),
        waited_ms: stats.paced.as_millis() as u64,
        retries: (!report.retries.is_empty()).then(|| {
            report
                .retries
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }),
    }
}

/// SIGINT and SIGTERM, listened for from [`Termination::install`] on: a signal received
/// before [`Termination::received`] is awaited is kept, not lost.
struct Termination {
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Termination {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => Some((int, term)),
            // Without handlers the default action (termination) applies.
            _ => None,
        };
        Termination { handlers }
    }

    /// Resolves on SIGINT or SIGTERM, naming it; never without handlers.
    async fn received(&mut self) -> &'static str {
        let Some((int, term)) = &mut self.handlers else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
}

/// The cheap checks at the end of a successful sync: recorded for `status`, and a warning when
/// something is off. Never fails the sync: the history it stored is kept either way.
/// A damaged or unwritable database is an error; anything else that stops the check a warning.
pub fn after_sync(store: &Store, account: &str, run_id: i64) -> Result<(), StoreError> {
    use crate::verify;
    let result = verify::check_account(store, account).and_then(|report| {
        verify::record(store, &report, VerifyTrigger::Sync, Some(run_id))?;
        Ok(report)
    });
    match result {
        Ok(r) if r.consistent => {}
        Ok(r) => tracing::warn!(
            "the stored history is not consistent: {}; run `kraken-tax verify` for details",
            r.summary()
        ),
        Err(verify::VerifyError::Store(e)) if e.is_damage() => return Err(e),
        Err(e) => tracing::warn!(
            "could not check the stored history after the sync: {}",
            crate::text::chain(&e)
        ),
    }
    Ok(())
}

/// Keeps the derived classification current after a sync, so `status` and `export` find it
/// fresh (an export of a large account otherwise spends most of its time storing it). The
/// table is a cache: failing to refresh it is a warning, not a failed sync, unless the
/// database itself is damaged or cannot be written (then the sync fails, also under `-q`).
fn refresh_classification(
    db: &std::path::Path,
    account: &str,
    rules: &Rules,
) -> Result<(), StoreError> {
    if let Err(e) = rules.validate() {
        tracing::warn!("the classification was not refreshed: {e}");
        return Ok(());
    }
    let refreshed = Store::open(db)
        .and_then(|mut store| ensure_fresh(&mut store, account, &AssetTable::default(), rules));
    match refreshed {
        Ok(Some(report)) => tracing::debug!("classified {} legs", report.legs),
        Ok(None) => {}
        Err(e) if e.is_damage() => return Err(e),
        Err(e) => tracing::warn!(
            "the classification was not refreshed ({e}); `kraken-tax rebuild` retries it"
        ),
    }
    Ok(())
}

/// The line `sync` prints when it is done.
pub fn summary_line(account: &str, report: &SyncReport) -> String {
    let parts: Vec<String> = report
        .streams
        .iter()
        .map(|(name, s)| {
            format!(
                "{name} +{} ({})",
                s.new,
                crate::text::count(s.pages, "page")
            )
        })
        .collect();
    format!(
        "synced account {account:?}: {}; history complete",
        parts.join(", ")
    )
}

/// `sync --json` (schemas/json/sync.schema.json): a finished run (`report`), or a temporary
/// failure kept quiet by `--alert-after` (`quiet_failure`, the error line).
pub fn report_json(
    account: &str,
    report: Option<&SyncReport>,
    quiet_failure: Option<&str>,
) -> serde_json::Value {
    use serde_json::json;
    let Some(report) = report else {
        return json!({"command": "sync", "account": account, "outcome": "interrupted_quiet",
            "error": quiet_failure, "new_entries": 0, "streams": {}, "warnings": []});
    };
    let mut warnings = Vec::new();
    for (kind, (n, example)) in &report.unknown_types {
        warnings.push(json!({"code": "unknown_ledger_type", "type": kind, "count": n,
            "example": example, "message": format!(
                "stored {n} ledger entries of unknown type {kind:?}; they will be reported as unclassified")}));
    }
    let mut streams = serde_json::Map::new();
    for (name, s) in &report.streams {
        if let Some((expected, stored)) = s.count_mismatch {
            warnings.push(json!({"code": "count_mismatch", "stream": name, "expected": expected,
                "stored": stored, "message": format!(
                    "{name}: Kraken announced {expected} entries but {stored} are stored; run `kraken-tax verify`")}));
        }
        streams.insert(
            (*name).to_owned(),
            json!({"pages": s.pages, "new": s.new,
            "duplicates": s.duplicates, "conflicts": s.conflicts, "complete": s.complete}),
        );
    }
    json!({"command": "sync", "account": account, "outcome": "complete",
        "new_entries": report.new_entries(), "pages": report.pages(), "streams": streams,
        "retries": report.retries, "warnings": warnings})
}

/// What a temporary failure of `sync --alert-after LIMIT` becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertDecision {
    /// Exit 0 without a word: the last complete sync is younger than the limit.
    Quiet,
    /// Exit 75 with this one line: the history has been stale for too long.
    Alert(String),
}

/// Decides, at `now`, whether a temporary failure is kept quiet: only while the last complete
/// sync (`last_complete`, none if there never was one) is younger than `limit`.
pub fn alert_decision(
    last_complete: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    limit: Duration,
) -> AlertDecision {
    let limit_text = humantime::format_duration(limit);
    let Some(last) = last_complete else {
        return AlertDecision::Alert(format!(
            "no complete sync yet, and this one failed (--alert-after {limit_text})"
        ));
    };
    let age = now.signed_duration_since(last);
    // A clock set back makes the age negative: young, hence quiet.
    let age_std = age.to_std().unwrap_or(Duration::ZERO);
    if age_std < limit {
        return AlertDecision::Quiet;
    }
    let age_text = humantime::format_duration(Duration::from_secs(age_std.as_secs()));
    AlertDecision::Alert(format!(
        "the last complete sync was {age_text} ago ({}), longer than --alert-after {limit_text}",
        last.format("%Y-%m-%d %H:%M:%S UTC")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(error: ApiError) -> KrakenError {
        KrakenError::Api {
            method: "Ledgers",
            error,
        }
    }

    #[test]
    fn errors_keep_the_exit_class_the_command_had() {
        let sync = |e: KrakenError| RunError::from_sync(SyncError::Kraken(e));
        let nonce = sync(api(ApiError::InvalidNonce));
        assert!(matches!(nonce, RunError::NonceRefused(_)));
        assert_eq!(nonce.kind(), ErrorKind::Configuration);
        assert_eq!(
            sync(api(ApiError::InvalidKey)).kind(),
            ErrorKind::Configuration
        );
        let lockout = sync(api(ApiError::TemporaryLockout));
        assert!(matches!(lockout, RunError::Interrupted(_)));
        assert_eq!(lockout.kind(), ErrorKind::Temporary);
        let refused = sync(api(ApiError::InvalidArguments("x".to_owned())));
        assert_eq!(refused.kind(), ErrorKind::Failure);
        let budget = RunError::from_sync(SyncError::TimeBudget(3));
        assert_eq!(budget.kind(), ErrorKind::Temporary);
        let denied =
            RunError::from_backfill(BackfillError::Kraken(KrakenError::PermissionDenied {
                method: "AddExport",
                permission: "Export Data",
            }));
        assert!(matches!(denied, RunError::BackfillPermission(_)));
        assert_eq!(denied.kind(), ErrorKind::Configuration);
        let busy = RunError::from_backfill(BackfillError::Kraken(api(ApiError::Unavailable)));
        assert!(matches!(busy, RunError::BackfillInterrupted(_)));
        assert_eq!(busy.kind(), ErrorKind::Temporary);
        assert_eq!(RunError::Signal("SIGTERM").kind(), ErrorKind::Temporary);
    }

    #[test]
    fn the_run_record_names_the_sentence_then_its_cause() {
        let e = RunError::from_sync(SyncError::Kraken(KrakenError::HttpStatus {
            method: "Ledgers",
            status: 502,
        }));
        assert_eq!(
            crate::text::chain(&e),
            "sync interrupted; progress is saved, run it again later: Kraken answered Ledgers with HTTP 502; try again later"
        );
        // A transparent wrapper adds nothing of its own.
        let e = RunError::from_sync(SyncError::Stopped(2));
        assert_eq!(
            crate::text::chain(&e),
            "stopped after 2 pages as requested; progress is saved"
        );
        assert_eq!(
            crate::text::chain(&RunError::Signal("SIGINT")),
            "interrupted by SIGINT; progress is saved, the next run resumes"
        );
    }

    #[test]
    fn alert_after_is_quiet_only_while_the_last_complete_sync_is_younger() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap();
        let day = Duration::from_secs(86_400);
        let hours_ago = |h: i64| Some(now - chrono::Duration::hours(h));
        assert_eq!(
            alert_decision(hours_ago(23), now, day),
            AlertDecision::Quiet
        );
        // A last sync "in the future" (clock set back) is young.
        assert_eq!(
            alert_decision(hours_ago(-1), now, day),
            AlertDecision::Quiet
        );
        // Exactly the limit is too old.
        assert_eq!(
            alert_decision(hours_ago(24), now, day),
            AlertDecision::Alert(
                "the last complete sync was 1day ago (2026-12-04 03:00:00 UTC), longer than --alert-after 1day"
                    .to_owned()
            )
        );
        assert_eq!(
            alert_decision(hours_ago(50), now, Duration::from_secs(2 * 86_400)),
            AlertDecision::Alert(
                "the last complete sync was 2days 2h ago (2026-12-03 01:00:00 UTC), longer than --alert-after 2days"
                    .to_owned()
            )
        );
        assert_eq!(
            alert_decision(None, now, day),
            AlertDecision::Alert(
                "no complete sync yet, and this one failed (--alert-after 1day)".to_owned()
            )
        );
    }
}
