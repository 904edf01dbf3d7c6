//! `kraken-tax sync`: resolve the [`SyncPlan`], run [`crate::sync::run()`] with a progress bar,
//! map its error to an exit code.

use super::{Context, Failure};
use crate::cli::SyncArgs;
use crate::config::{self, SyncFlags};
use crate::sync::{
    AlertDecision, BackfillError, ErrorKind, ProgressEvent, RunError, RunEvent, SyncError,
    SyncPlan, SyncReport, alert_decision, report_json, summary_line,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

pub(super) async fn run(ctx: &Context, args: &SyncArgs) -> Result<(), Failure> {
    let flags = SyncFlags {
        key_file: args.key_file.clone(),
        api_url: args.api_url.clone(),
        tier: args.tier.clone(),
        max_duration: args.max_duration,
        backfill: args.backfill,
        alert_after: args.alert_after,
    };
    let plan = config::sync_plan(&ctx.common(), &ctx.file, flags, &config::process_env)
        .map_err(Failure::usage)?;
    let alert_after = plan.alert_after;
    let report = match (run_plan(plan, ctx.quiet).await, alert_after) {
        (Ok(report), _) => report,
        (Err(f), Some(limit)) if f.code == super::EXIT_TEMPFAIL => {
            let quiet = within_alert_limit(ctx, f, limit)?;
            return match args.json {
                true => json_out(report_json(&ctx.account, None, Some(&quiet))),
                false => Ok(()),
            };
        }
        (Err(f), _) => return Err(f),
    };
    if args.json {
        return json_out(report_json(&ctx.account, Some(&report), None));
    }
    if !ctx.quiet {
        super::out(&format!("{}\n", summary_line(&ctx.account, &report)))?;
    }
    Ok(())
}

/// A temporary failure under `--alert-after`: nothing said and exit 0 while the last complete
/// sync is young enough (the reason still goes to the log at info level, so `--log-file`
/// keeps it); otherwise exit 75 with one line saying how stale the history is, then why.
fn within_alert_limit(
    ctx: &Context,
    f: Failure,
    limit: std::time::Duration,
) -> Result<String, Failure> {
    // Unreadable run records cannot prove the history fresh: keep the failure.
    let last =
        match crate::store::Store::open(&ctx.db).and_then(|s| s.last_complete_sync(&ctx.account)) {
            Ok(last) => last,
            Err(_) => return Err(f),
        };
    match alert_decision(last, chrono::Utc::now(), limit) {
        AlertDecision::Quiet => {
            let line = f.render();
            tracing::info!("temporary failure kept quiet (--alert-after): {line}");
            Ok(line)
        }
        AlertDecision::Alert(line) => Err(Failure::temporary(f.error.context(line))),
    }
}

fn json_out(value: serde_json::Value) -> Result<(), Failure> {
    super::out(&format!("{value}\n"))
}

/// Runs one sync with a progress bar (unless quiet); shared by `sync` and `demo`.
pub(super) async fn run_plan(plan: SyncPlan, quiet: bool) -> Result<SyncReport, Failure> {
    let db = plan.db.clone();
    let bar = progress_bar(quiet);
    let mut on_event = |ev: RunEvent| show(ev, bar.as_ref(), quiet);
    let result = crate::sync::run(plan, &mut on_event).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result.map_err(|e| failure(e, &db))
}

/// Shows one event: progress on the bar, a line per imported export.
pub(super) fn show(ev: RunEvent, bar: Option<&ProgressBar>, quiet: bool) {
    match (ev, bar) {
        (
            RunEvent::Imported {
                kind,
                rows,
                inserted,
            },
            _,
        ) if !quiet => {
            super::note(&format!(
                "{kind}: {} imported ({inserted} new)",
                crate::text::plural(rows, "exported entry", "exported entries")
            ));
        }
        (
            RunEvent::Progress(ProgressEvent::Page {
                stream,
                new,
                expected,
            }),
            Some(bar),
        ) => {
            if let Some(e) = expected {
                bar.set_length(e.max(new));
            }
            bar.set_position(new);
            bar.set_message(stream.as_str());
        }
        (RunEvent::Progress(ProgressEvent::StreamDone(stream)), Some(bar)) => {
            bar.println(format!("{stream}: complete"));
            bar.set_position(0);
        }
        _ => {}
    }
}

/// Maps a run error to an exit code and a sentence; database errors name the file.
pub(super) fn failure(error: RunError, db: &Path) -> Failure {
    let kind = error.kind();
    let by_kind = |e: anyhow::Error| match kind {
        ErrorKind::Configuration => Failure::usage(e),
        ErrorKind::Temporary => Failure::temporary(e),
        ErrorKind::Failure => Failure::bad(e),
    };
    match error {
        RunError::Database(e) => super::store_failure(db, e),
        RunError::Record(e) => Failure::bad(e),
        RunError::Lock(e) => by_kind(e.into()),
        RunError::Client(e) => Failure::bad(e),
        RunError::Backfill(BackfillError::Kraken(e)) => by_kind(e.into()),
        RunError::Backfill(e) => by_kind(e.into()),
        RunError::Sync(SyncError::Kraken(e)) => by_kind(e.into()),
        RunError::Sync(e) => by_kind(e.into()),
        e => by_kind(e.into()),
    }
}

pub(super) fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    progress_bar_for(quiet, std::io::stderr().is_terminal())
}

/// A progress bar only on a terminal and without `-q` (never in cron mail or a log file).
fn progress_bar_for(quiet: bool, terminal: bool) -> Option<ProgressBar> {
    if quiet || !terminal {
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

#[cfg(test)]
mod tests {
    use super::progress_bar_for;

    #[test]
    fn the_progress_bar_is_for_terminals_only() {
        assert!(progress_bar_for(false, false).is_none());
        assert!(progress_bar_for(true, true).is_none());
        assert!(progress_bar_for(false, true).is_some());
    }
}
