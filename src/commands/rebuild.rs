//! `kraken-tax rebuild`: recompute the derived tables (events, classification) from the raw
//! rows, e.g. after changing classification rules.

use super::{Context, Failure};
use crate::classify::build::{BuildReport, rebuild};
use crate::normalize::assets::AssetTable;

pub(super) fn run(ctx: &Context) -> Result<(), Failure> {
    let rules = &ctx.file.classify;
    rules.validate().map_err(Failure::usage)?;
    let mut store = super::open_store(ctx, true)?;
    let report =
        rebuild(&mut store, &ctx.account, &AssetTable::default(), rules).map_err(Failure::bad)?;
    warn_about(&report);
    if !ctx.quiet {
        let parts: Vec<String> = report
            .by_element
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        let by_element = if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
        };
        super::out(&format!(
            "classified {} legs of account {:?}{by_element}\n",
            report.legs, ctx.account
        ))?;
    }
    Ok(())
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
