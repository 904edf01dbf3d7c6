//! `kraken-tax verify`: resolve the [`crate::config::VerifyPlan`], run
//! [`crate::verify::run::run`], print the report and map its error to an exit code.

use super::{Context, Failure};
use crate::cli::VerifyArgs;
use crate::config::{self, VerifyFlags};
use crate::verify::run::VerifyRunError;
use anyhow::{Context as _, anyhow};

pub(super) async fn run(ctx: &Context, args: &VerifyArgs) -> Result<(), Failure> {
    let flags = VerifyFlags {
        offline: args.offline,
        key_file: args.key_file.clone(),
        api_url: args.api_url.clone(),
    };
    // A bad URL is a usage error before anything is opened, as for sync.
    let plan = config::verify_plan(&ctx.common(), &ctx.file, flags, &config::process_env)
        .map_err(Failure::usage)?;
    let store = super::open_store(ctx, true)?;
    let report = crate::verify::run::run(plan, &store)
        .await
        .map_err(|e| failure(e, &ctx.db))?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .context("writing the JSON report")
            .map_err(Failure::bad)?;
        super::out(&format!("{json}\n"))?;
    } else if !(ctx.quiet && report.consistent) {
        super::out(&report.render_text())?;
    }
    if report.consistent {
        Ok(())
    } else {
        Err(Failure::bad(anyhow!(
            "the stored history of account {:?} is not consistent: {}",
            ctx.account,
            report.summary()
        )))
    }
}

/// Usage and configuration problems are 2; the key state's database errors name the file
/// (busy is 75); anything else is 1.
fn failure(e: VerifyRunError, db: &std::path::Path) -> Failure {
    match e {
        VerifyRunError::KeyState(e) => super::store_failure(db, e),
        VerifyRunError::Store(e) => Failure::bad(e),
        e if e.is_usage() => Failure::usage(e),
        e => Failure::bad(e),
    }
}
