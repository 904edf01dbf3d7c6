//! `kraken-tax demo`: [`crate::demo::run`] with a progress bar, its text on stdout.

use super::Failure;
use crate::cli::DemoArgs;
use crate::demo::{DemoError, DemoPlan};
use crate::export::run::ExportError;
use crate::sync::RunEvent;

pub(super) async fn run(args: &DemoArgs, quiet: bool) -> Result<(), Failure> {
    let plan = DemoPlan {
        out: args.out.clone(),
        seed: args.seed,
        entries: args.entries,
        quiet,
    };
    let bar = super::sync::progress_bar(quiet);
    let mut on_event = |ev: RunEvent| super::sync::show(ev, bar.as_ref(), quiet);
    let result = crate::demo::run(&plan, &mut on_event).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result.map_err(failure)? {
        Some(text) => super::out(&text),
        None => Ok(()),
    }
}

/// Maps a demo error to an exit code (a sync or export failure as those commands would).
fn failure(error: DemoError) -> Failure {
    match error {
        DemoError::Sync { db, error } => super::sync::failure(error, &db),
        DemoError::Database { db, error } => super::store_failure(&db, error),
        DemoError::Export(ExportError::Store(e)) | DemoError::Store(e) => Failure::bad(e),
        DemoError::Export(e) if e.is_usage() => Failure::usage(e),
        DemoError::Export(e) => Failure::bad(e),
        e => Failure::bad(e),
    }
}
