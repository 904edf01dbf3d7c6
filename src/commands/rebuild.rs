//! `kraken-tax rebuild`: recompute the derived tables (events, classification) from the raw
//! rows, e.g. after changing classification rules.

use super::{Context, Failure};
use crate::classify::build::{BuildReport, preview_rebuild, rebuild};
use crate::cli::RebuildArgs;
use crate::normalize::assets::AssetTable;
use crate::store::Store;

pub(super) fn run(ctx: &Context, args: &RebuildArgs) -> Result<(), Failure> {
    let rules = &ctx.file.classify;
    rules.validate().map_err(Failure::usage)?;
    let assets = AssetTable::default();
    let (report, stored) = if args.dry_run {
        if !ctx.db.exists() {
            return Err(super::no_database(&ctx.db));
        }
        let mut store =
            Store::open_unchanged(&ctx.db).map_err(|e| super::store_failure(&ctx.db, e))?;
        let stored = store.derived_counts(&ctx.account).map_err(Failure::bad)?;
        let report =
            preview_rebuild(&mut store, &ctx.account, &assets, rules).map_err(Failure::bad)?;
        (report, Some(stored))
    } else {
        let mut store = super::open_store(ctx, true)?;
        let report = rebuild(&mut store, &ctx.account, &assets, rules).map_err(Failure::bad)?;
        (report, None)
    };
    warn_about(&report);
    if ctx.quiet && stored.is_none() {
        return Ok(());
    }
    let by_element = |counts: Vec<String>| {
        if counts.is_empty() {
            String::new()
        } else {
            format!(": {}", counts.join(", "))
        }
    };
    let new = by_element(
        report
            .by_element
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect(),
    );
    super::out(&match stored {
        None => format!(
            "classified {} legs of account {:?}{new}\n",
            report.legs, ctx.account
        ),
        Some(stored) => format!(
            "dry run, nothing changed: would classify {} legs of account {:?}{new}\nstored now: {} legs{}\n",
            report.legs,
            ctx.account,
            stored.iter().map(|(_, n)| n).sum::<u64>(),
            by_element(stored.iter().map(|(e, n)| format!("{e} {n}")).collect())
        ),
    })
}

/// Warnings for unclassified legs and unrecognised assets, with counts and an example.
pub(super) fn warn_about(report: &BuildReport) {
    for (reason, (n, example)) in &report.unclassified {
        tracing::warn!(
            "{n} unclassified leg{} ({reason}; e.g. {example}): add a [[classify.rules]] entry to the config to map them",
            if *n == 1 { "" } else { "s" }
        );
    }
    warn_unknown_assets(report);
}

/// Warnings for asset codes that were not recognised.
pub(super) fn warn_unknown_assets(report: &BuildReport) {
    for (code, n) in &report.unknown_assets {
        tracing::warn!(
            "asset code {code:?} is not recognised ({n} legs); it is reported unchanged"
        );
    }
}
