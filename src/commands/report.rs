//! `kraken-tax report --year Y --currency CCY`: the export's plan (CSV only) as `export`
//! resolves it and the gains' plan as `gains` resolves it (the same calendar year, currency
//! and directory), then [`crate::report::run::run`]; its error mapped to an exit code.

use super::{Context, Failure};
use crate::cli::{ReportArgs, ReportFormat};
use crate::config::{self, ExportFlags, GainsFlags, TaxYear};
use crate::export::FeeTreatment;
use crate::export::run::ExportFormat;
use crate::report::ReportError;
use crate::report::run::{ReportPlan, reported_json};

pub(super) async fn run(ctx: &Context, args: &ReportArgs) -> Result<(), Failure> {
    let flags = ExportFlags {
        year: args.year,
        currency: Some(args.currency),
        out: Some(args.out.clone()),
        fees: Some(FeeTreatment::Net),
        tz: Some(chrono_tz::UTC),
        formats: Some(vec![ExportFormat::Csv]),
        allow_empty: true,
        strict: false,
        offline: args.offline,
        draft: false,
        api_url: args.api_url.clone(),
    };
    let export = config::export_plan(&ctx.common(), &ctx.file, flags).map_err(Failure::usage)?;
    // The report shows the export's calendar year: the gains files carry its label.
    let flags = GainsFlags {
        year: Some(args.year),
        period: Some(TaxYear::Calendar),
        tz: Some(export.tz),
        currency: Some(args.currency),
        method: args.method,
        offline: args.offline,
        out: Some(args.out.clone()),
        api_url: args.api_url.clone(),
        ..GainsFlags::default()
    };
    let gains = config::gains_plan(&ctx.common(), &ctx.file, flags).map_err(Failure::usage)?;
    let plan = ReportPlan {
        export,
        gains,
        html: args.format.contains(&ReportFormat::Html),
        xlsx: args.format.contains(&ReportFormat::Xlsx),
    };
    let mut store = super::open_store(ctx, true)?;
    let reported = crate::report::run::run(&plan, &mut store)
        .await
        .map_err(failure)?;
    if args.json {
        return super::out(&format!("{}\n", reported_json(&plan, &reported)));
    }
    if !ctx.quiet {
        for f in &reported.files {
            super::out(&format!("wrote {}\n", f.display()))?;
        }
    }
    Ok(())
}

/// Maps a report error to an exit code (an export failure as `export` would).
pub(super) fn failure(e: ReportError) -> Failure {
    match e {
        ReportError::Export(e) if e.is_usage() => Failure::usage(e),
        ReportError::Export(e) if e.is_temporary() => Failure::temporary(e),
        e => Failure::bad(e),
    }
}
