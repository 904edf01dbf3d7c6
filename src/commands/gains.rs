//! `kraken-tax gains`: flags → [`config::gains_plan`] (flags, then the `[gains]` table, then
//! the defaults), then [`crate::gains::run::run`]; the summary (or `--json`) is printed.

use super::{Context, Failure};
use crate::cli::GainsArgs;
use crate::config::{self, GainsFlags};
use crate::gains::run::{heading, outcome_json, summary_table};

pub(super) async fn run(ctx: &Context, args: &GainsArgs) -> Result<(), Failure> {
    let plan = config::gains_plan(&ctx.common(), &ctx.file, flags(args)).map_err(Failure::usage)?;
    let mut store = super::open_store(ctx, true)?;
    let outcome = crate::gains::run::run(&plan, &mut store)
        .await
        .map_err(Failure::bad)?;
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    if args.json {
        return super::out(&format!("{}\n", outcome_json(&plan, &outcome)));
    }
    if ctx.quiet {
        return Ok(());
    }
    let mut text = format!("{}:\n{}", heading(&plan), summary_table(&outcome.summary));
    for f in &outcome.files {
        text.push_str(&format!("wrote {}\n", f.display()));
    }
    super::out(&text)
}

/// The command line's options, clap-free.
fn flags(args: &GainsArgs) -> GainsFlags {
    GainsFlags {
        year: args.year,
        period: args.period,
        from: args.from,
        to: args.to,
        tz: args.tz,
        currency: args.currency,
        method: args.method,
        unknown_cost: args.unknown_cost,
        swap_fee: args.swap_fee,
        lots: args.lots,
        offline: args.offline,
        out: args.out.clone(),
        all_accounts: args.all_accounts,
        api_url: args.api_url.clone(),
    }
}
