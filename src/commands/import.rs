//! `kraken-tax import FILE...`: Kraken's website exports into the raw tables.

use super::{Context, Failure};
use crate::cli::ImportArgs;
use crate::csv_import::{FileReport, ImportError, ImportOptions, import_input, read_inputs};
use crate::store::Source;
use anyhow::anyhow;

pub(super) fn run(ctx: &Context, args: &ImportArgs) -> Result<(), Failure> {
    let mut store = super::open_store(ctx, false)?;
    let opts = ImportOptions {
        skip_bad: args.skip_bad,
        source: Source::Csv,
    };
    let mut done = 0usize;
    for path in &args.files {
        let inputs = match read_inputs(path) {
            Ok(i) => i,
            Err(e @ ImportError::Io { .. }) => return Err(Failure::usage(e)),
            Err(e) => return Err(stopped(e, done)),
        };
        for input in &inputs {
            let report = import_input(&mut store, &ctx.account, input, opts, &mut |_, _| Ok(()))
                .map_err(|e| stopped(e, done))?;
            print_report(&report, ctx.quiet)?;
            done += 1;
        }
    }
    Ok(())
}

/// A file that stopped the import: bad data is exit 1; files before it stay imported.
fn stopped(e: ImportError, done: usize) -> Failure {
    let hint = if done > 0 {
        format!(
            "; the {done} file{} before it {} imported",
            if done == 1 { "" } else { "s" },
            if done == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    let skip = if e.skip_bad_helps() {
        " (nothing of this file was stored; fix the row or rerun with --skip-bad)"
    } else {
        ""
    };
    Failure::bad(anyhow!("{e}{skip}{hint}"))
}

fn print_report(r: &FileReport, quiet: bool) -> Result<(), Failure> {
    for w in r.warnings() {
        super::note(&format!("warning: {w}"));
    }
    if quiet {
        return Ok(());
    }
    super::out(&format!(
        "{}: {} {}, {} rows: {} new, {} already stored, {} conflicting, {} pending skipped, {} bad skipped\n",
        r.file,
        r.kind.as_str(),
        r.version,
        r.rows,
        r.outcome.inserted,
        r.outcome.duplicates,
        r.outcome.conflicts,
        r.pending,
        r.bad_rows
    ))
}
