//! `kraken-tax emulator`: resolve the [`crate::config::ServePlan`], run
//! [`crate::emulator::serve::serve`] until interrupted, say where it listened and what it
//! answered.

use super::Failure;
use crate::cli::EmulatorArgs;
use crate::config::{self, EmulatorFlags};
use crate::emulator::serve::Listening;

pub(super) async fn run(args: &EmulatorArgs) -> Result<(), Failure> {
    let plan = config::emulator_plan(EmulatorFlags {
        port: args.port,
        seed: args.seed,
        entries: args.entries,
        tier: args.tier.clone(),
        time_scale: args.time_scale,
        truth: args.truth.clone(),
        key_file_out: args.key_file_out.clone(),
    })
    .map_err(Failure::usage)?;
    let mut on_listening = |l: &Listening| {
        super::write_out(&format!(
            "emulator listening on {} ({} ledger entries, {} trades; tier {}); Ctrl-C to stop\n",
            l.url, l.ledger_entries, l.trades, l.tier
        ))
    };
    let served = crate::emulator::serve::serve(plan, &mut on_listening)
        .await
        .map_err(Failure::bad)?;
    super::note(&format!(
        "emulator: {} history calls, {} refused by the rate limit",
        served.history_calls, served.rate_limited
    ));
    Ok(())
}
