//! `kraken-tax doctor`: resolve the [`crate::config::DoctorPlan`], run
//! [`crate::doctor::run::diagnose`], print one line per check (or JSON).

use super::{Context, Failure};
use crate::cli::DoctorArgs;
use crate::config::{self, ConfigError, DoctorFlags};
use crate::doctor::Status;
use anyhow::anyhow;

pub(super) async fn run(
    ctx: &Context,
    args: &DoctorArgs,
    config_error: Option<ConfigError>,
) -> Result<(), Failure> {
    let flags = DoctorFlags {
        key_file: args.key_file.clone(),
        api_url: args.api_url.clone(),
        tier: args.tier.clone(),
    };
    let plan = config::doctor_plan(
        &ctx.common(),
        &ctx.file,
        config_error,
        flags,
        &config::process_env,
    )
    .map_err(Failure::usage)?;
    let report = crate::doctor::run::diagnose(plan).await;
    if args.json {
        super::out(&format!("{}\n", report.to_json()))?;
    } else {
        super::out(&report.to_text())?;
    }
    if report.has_problem() {
        return Err(Failure::bad(anyhow!(
            "doctor found {}; see the lines marked \"problem\"",
            crate::text::count(report.count(Status::Problem), "problem")
        )));
    }
    Ok(())
}
