//! `kraken-tax report --year Y --currency CCY`: the export's plan (CSV only) as `export`
//! resolves it, then [`crate::report::run::run`]; its error mapped to an exit code.

use super::{Context, Failure};
use crate::cli::{ReportArgs, ReportFormat};
use crate::config::{self, ExportFlags};
use crate::export::FeeTreatment;
use crate::export::run::ExportFormat;
use crate::report::ReportError;
use crate::report::run::ReportPlan;

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
    let plan = ReportPlan {
        export,
        method: method_name(args.method),
        html: args.format.contains(&ReportFormat::Html),
        xlsx: args.format.contains(&ReportFormat::Xlsx),
    };
    let mut store = super::open_store(ctx, true)?;
    let reported = crate::report::run::run(&plan, &mut store)
        .await
        .map_err(failure)?;
    if !ctx.quiet {
        for f in &reported.files {
            super::out(&format!("wrote {}\n", f.display()))?;
        }
    }
    Ok(())
}

/// The method's name as the gains files spell it.
pub(super) fn method_name(m: config::GainsMethod) -> String {
    clap::ValueEnum::to_possible_value(&m)
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// Maps a report error to an exit code (an export failure as `export` would).
pub(super) fn failure(e: ReportError) -> Failure {
    match e {
        ReportError::Export(e) if e.is_usage() => Failure::usage(e),
        ReportError::Export(e) if e.is_temporary() => Failure::temporary(e),
        e => Failure::bad(e),
    }
}
