//! `kraken-tax import FILE...`: Kraken's website exports into the raw tables.

use super::{Context, Failure};
use crate::cli::ImportArgs;
use crate::csv_import::{
    FileReport, ImportError, ImportOptions, import_input, preview_input, read_inputs,
};
use crate::store::{Source, Store};
use anyhow::anyhow;

pub(super) fn run(ctx: &Context, args: &ImportArgs) -> Result<(), Failure> {
    let mut store = if args.dry_run {
        Store::open_unchanged(&ctx.db).map_err(|e| super::store_failure(&ctx.db, e))?
    } else {
        super::open_store(ctx, false)?
    };
    let opts = ImportOptions {
        skip_bad: args.skip_bad,
        source: Source::Csv,
    };
    let mut done = 0usize;
    let mut json_files = Vec::new();
    for path in &args.files {
        let inputs = match read_inputs(path) {
            Ok(i) => i,
            Err(e @ ImportError::Io { .. }) => return Err(Failure::usage(e)),
            Err(e) => return Err(stopped(e, done)),
        };
        for input in &inputs {
            let report = if args.dry_run {
                preview_input(&mut store, &ctx.account, input, opts)
            } else {
                import_input(&mut store, &ctx.account, input, opts, &mut |_, _| Ok(()))
            }
            .map_err(|e| stopped(e, done))?;
            if args.json {
                json_files.push(file_json(&report));
            } else {
                print_report(&report, ctx.quiet && !args.dry_run, args.dry_run)?;
            }
            done += 1;
        }
    }
    if args.json {
        let value = serde_json::json!({
            "command": "import", "account": ctx.account, "dry_run": args.dry_run,
            "files": json_files,
        });
        return super::out(&format!("{value}\n"));
    }
    if args.dry_run {
        super::out("dry run: nothing was changed\n")?;
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

fn print_report(r: &FileReport, quiet: bool, dry_run: bool) -> Result<(), Failure> {
    for w in r.warnings() {
        super::note(&format!("warning: {w}"));
    }
    if quiet {
        return Ok(());
    }
    super::out(&format!(
        "{}: {} {}, {} rows: {} {}new, {} already stored, {} conflicting{}, {} pending skipped, {} bad skipped\n",
        r.file,
        r.kind.as_str(),
        r.version,
        r.rows,
        r.outcome.inserted,
        if dry_run { "would be stored " } else { "" },
        r.outcome.duplicates,
        r.outcome.conflicts,
        if dry_run {
            " (would be kept aside)"
        } else {
            ""
        },
        r.pending,
        r.bad_rows
    ))
}

/// One file of `import --json` (schemas/json/import.schema.json).
fn file_json(r: &FileReport) -> serde_json::Value {
    let warnings: Vec<_> = r
        .coded_warnings()
        .into_iter()
        .map(|(code, message)| serde_json::json!({"code": code, "message": message}))
        .collect();
    serde_json::json!({
        "file": r.file, "kind": r.kind.as_str(), "version": r.version, "rows": r.rows,
        "new": r.outcome.inserted, "already_stored": r.outcome.duplicates,
        "conflicts": r.outcome.conflicts, "pending_skipped": r.pending,
        "bad_skipped": r.bad_rows, "warnings": warnings,
    })
}
