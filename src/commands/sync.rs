//! `kraken-tax sync`.

use super::{Context, Failure};
use crate::classify::build::ensure_fresh;
use crate::cli::SyncArgs;
use crate::config;
use crate::domain::RateTier;
use crate::kraken::{ApiError, ClientConfig, KrakenClient, KrakenError, RetryPolicy};
use crate::normalize::assets::AssetTable;
use crate::secret::{CredentialError, Credentials};
use crate::store::{KeyStateDb, LockError, RunLock, RunOutcome, RunTotals, Store};
use crate::sync::{
    BackfillError, BackfillMode, BackfillOptions, UnknownBackfillMode, backfill as run_backfill,
};
use crate::sync::{
    ProgressEvent, StoreKeyState, SyncError, SyncOptions, SyncReport, sync_account_into,
};
use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};
use url::Url;

/// Where and how to sync, fully resolved.
pub(super) struct Target {
    pub api_url: Url,
    pub tier: RateTier,
    pub credentials: Credentials,
    pub max_duration: Option<Duration>,
    pub retry: RetryPolicy,
}

pub(super) async fn run(ctx: &Context, args: &SyncArgs) -> Result<(), Failure> {
    let file = &ctx.file.sync;
    let api_url = super::api_url(args.api_url.as_deref(), ctx)?;
    let tier = config::resolve_tier(args.tier.as_deref(), &ctx.file).map_err(Failure::usage)?;
    let max_duration = match args
        .max_duration
        .as_deref()
        .or(file.max_duration.as_deref())
    {
        None => None,
        Some(text) => Some(humantime::parse_duration(text).map_err(|e| {
            Failure::usage(anyhow!(
                "invalid --max-duration {text:?}: {e}; use e.g. 20m or 1h30m"
            ))
        })?),
    };
    let key_file = args.key_file.as_deref().or(file.key_file.as_deref());
    let retry = config::resolve_retry(&ctx.file).map_err(|e| Failure::usage(anyhow!(e)))?;
    let credentials = load_credentials(key_file).map_err(Failure::usage)?;
    let target = Target {
        api_url,
        tier,
        credentials,
        max_duration,
        retry,
    };
    let backfill: BackfillMode = args
        .backfill
        .parse()
        .map_err(|e: UnknownBackfillMode| Failure::usage(e))?;
    let report = sync_into_with(&ctx.db, &ctx.account, target, ctx.quiet, backfill).await?;
    refresh_classification(ctx)?;
    if !ctx.quiet {
        super::out(&format!("{}\n", summary_line(&ctx.account, &report)))?;
    }
    Ok(())
}

/// Keeps the derived classification current after a sync, so `status` and `export` find it
/// fresh (an export of a large account otherwise spends most of its time storing it). The
/// table is a cache: failing to refresh it is a warning, not a failed sync, unless the
/// database itself is damaged or cannot be written (then the sync fails, also under `-q`).
fn refresh_classification(ctx: &Context) -> Result<(), Failure> {
    let rules = &ctx.file.classify;
    if let Err(e) = rules.validate() {
        tracing::warn!("the classification was not refreshed: {e}");
        return Ok(());
    }
    let refreshed = Store::open(&ctx.db).and_then(|mut store| {
        ensure_fresh(&mut store, &ctx.account, &AssetTable::default(), rules)
    });
    match refreshed {
        Ok(Some(report)) => tracing::debug!("classified {} legs", report.legs),
        Ok(None) => {}
        Err(e) if e.is_damage() => return Err(super::store_failure(&ctx.db, e)),
        Err(e) => tracing::warn!(
            "the classification was not refreshed ({e}); `kraken-tax rebuild` retries it"
        ),
    }
    Ok(())
}

/// Key file if given, else the environment.
fn load_credentials(key_file: Option<&Path>) -> Result<Credentials, CredentialError> {
    if let Some(path) = key_file {
        return Credentials::from_key_file(path);
    }
    Credentials::from_env_with(|name| std::env::var(name).ok())?.ok_or(CredentialError::Missing)
}

fn summary_line(account: &str, report: &SyncReport) -> String {
    let parts: Vec<String> = report
        .streams
        .iter()
        .map(|(name, s)| format!("{name} +{} ({} pages)", s.new, s.pages))
        .collect();
    format!(
        "synced account {account:?}: {}; history complete",
        parts.join(", ")
    )
}

/// Runs one sync of `account` into the database at `db`, recording the run. Shared by `sync`
/// and `demo`.
pub(super) async fn sync_into(
    db: &Path,
    account: &str,
    target: Target,
    quiet: bool,
) -> Result<SyncReport, Failure> {
    sync_into_with(db, account, target, quiet, BackfillMode::None).await
}

/// [`sync_into`], first filling never-synced history through the export API as `backfill` says.
pub(super) async fn sync_into_with(
    db: &Path,
    account: &str,
    target: Target,
    quiet: bool,
    backfill: BackfillMode,
) -> Result<SyncReport, Failure> {
    // The lock comes first: a second run must not even send a request (it would spoil the
    // running one's nonce sequence).
    let lock = RunLock::acquire(db, account).map_err(|e| match e {
        LockError::Held { .. } => Failure::temporary(e),
        other => Failure::bad(other),
    })?;
    if let Some(previous) = &lock.stale_holder {
        tracing::info!(
            "the previous sync ({previous}) ended without releasing its lock; continuing where it stopped"
        );
    }
    let mut store = Store::open_checked(db).map_err(|e| super::store_failure(db, e))?;
    let fingerprint = target.credentials.fingerprint();
    let key_state = KeyStateDb::open(db, &fingerprint).map_err(|e| super::store_failure(db, e))?;
    let retry = target.retry.clone();
    let mut client = KrakenClient::new(
        ClientConfig::new(target.api_url, target.tier),
        target.credentials,
        Box::new(StoreKeyState(key_state)),
    )
    .map_err(Failure::bad)?;
    let run_id = store.begin_run(account).map_err(Failure::bad)?;
    let opts = SyncOptions {
        account: account.to_owned(),
        stop_after_pages: None,
        deadline: target.max_duration.map(|d| Instant::now() + d),
        retry,
    };

    let bar = progress_bar(quiet);
    let mut on_progress = |ev: ProgressEvent| {
        if let Some(bar) = &bar {
            match ev {
                ProgressEvent::Page {
                    stream,
                    new,
                    expected,
                } => {
                    if let Some(e) = expected {
                        bar.set_length(e.max(new));
                    }
                    bar.set_position(new);
                    bar.set_message(stream.as_str());
                }
                ProgressEvent::StreamDone(stream) => {
                    bar.println(format!("{stream}: complete"));
                    bar.set_position(0);
                }
            }
        }
    };
    // SIGINT / SIGTERM drop the sync between two awaits: a page is either committed with its
    // cursor or not at all, so the next run resumes exactly.
    let mut report = SyncReport::default();
    let result = {
        let mut bopts = BackfillOptions::new(account, backfill, opts.retry.clone());
        bopts.deadline = opts.deadline;
        let sync = async {
            let b = run_backfill(&mut store, &mut client, &bopts)
                .await
                .map_err(classify_backfill)?;
            for f in &b.imported {
                // The run record counts what the backfill stored, too.
                let stream = crate::csv_import::stream_of(f.kind).as_str();
                report.streams.entry(stream).or_default().new += f.outcome.inserted;
                if !quiet {
                    super::note(&format!(
                        "{}: {} exported entries imported ({} new)",
                        f.kind.as_str(),
                        f.rows,
                        f.outcome.inserted
                    ));
                }
            }
            sync_account_into(
                &mut store,
                &mut client,
                &opts,
                &mut on_progress,
                &mut report,
            )
            .await
            .map_err(classify)
        };
        tokio::pin!(sync);
        tokio::select! {
            r = &mut sync => r,
            signal = termination_signal() => Err(Failure::temporary(anyhow!(
                "interrupted by {signal}; progress is saved, the next run resumes"
            ))),
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (outcome, detail, failure) = match result {
        Ok(()) => (RunOutcome::Ok, None, None),
        Err(failure) => {
            let outcome = if failure.code == super::EXIT_TEMPFAIL {
                RunOutcome::Interrupted
            } else {
                RunOutcome::Failed
            };
            let detail = format!("{:#}", failure.error);
            (outcome, Some(detail), Some(failure))
        }
    };
    for (kind, (n, example)) in &report.unknown_types {
        tracing::warn!(
            "stored {n} ledger entr{} of unknown type {kind:?} (e.g. {example}); they are kept and will be reported as unclassified",
            if *n == 1 { "y" } else { "ies" }
        );
    }
    let stats = client.stats();
    let totals = RunTotals {
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
    };
    store
        .finish_run(run_id, outcome, detail.as_deref(), &totals)
        .map_err(Failure::bad)?;
    // For `doctor`: refused nonces mean another program may be using this key.
    let refused = report
        .retries
        .get("EAPI:Invalid nonce")
        .copied()
        .unwrap_or(0);
    let invalid_nonce = crate::store::KeyEvent::InvalidNonce;
    let _ = store.record_key_event(&fingerprint, invalid_nonce, refused, chrono::Utc::now());
    if failure.is_none() {
        super::verify::after_sync(&store, account, run_id)
            .map_err(|e| super::store_failure(db, e))?;
    }
    drop(lock);
    match failure {
        None => Ok(report),
        Some(f) => Err(f),
    }
}

/// Resolves on SIGINT or SIGTERM, naming it.
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the default action (termination) applies; never resolve.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Maps a backfill error to an exit code and a sentence.
fn classify_backfill(error: BackfillError) -> Failure {
    match error {
        BackfillError::Kraken(e @ KrakenError::PermissionDenied { .. }) => {
            Failure::usage(anyhow::Error::new(e).context(
                "the export backfill needs the \"Export Data\" permission (or use --backfill auto to page instead)",
            ))
        }
        BackfillError::Kraken(e) if e.is_configuration() => Failure::usage(e),
        e if e.is_temporary() => Failure::temporary(
            anyhow::Error::new(e)
                .context("backfill interrupted; run sync again later to resume it"),
        ),
        e => Failure::bad(e),
    }
}

/// Maps a sync error to an exit code and a sentence.
fn classify(error: SyncError) -> Failure {
    match error {
        SyncError::Kraken(
            e @ KrakenError::Api {
                error: ApiError::InvalidNonce,
                ..
            },
        ) => Failure::usage(anyhow::Error::new(e).context(
            "Kraken keeps refusing the nonce: another program (or another kraken-tax database) is probably using this API key; give kraken-tax a key of its own",
        )),
        SyncError::Kraken(e) if e.is_configuration() => Failure::usage(e),
        SyncError::Kraken(e) if e.is_temporary() => Failure::temporary(
            anyhow::Error::new(e)
                .context("sync interrupted; progress is saved, run it again later"),
        ),
        SyncError::Stopped(_) | SyncError::TimeBudget(_) => Failure::temporary(error),
        other => Failure::bad(other),
    }
}

fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} new entries ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    Some(bar)
}
