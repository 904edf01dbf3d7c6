//! `kraken-tax import FILE...`: build the [`ImportPlan`], run [`crate::csv_import::run::run`]
//! showing each file's report as it is stored, map its error to an exit code.

use super::{Context, Failure};
use crate::cli::ImportArgs;
use crate::csv_import::FileReport;
use crate::csv_import::run::{ImportPlan, ImportRunError};

pub(super) fn run(ctx: &Context, args: &ImportArgs) -> Result<(), Failure> {
    let plan = ImportPlan {
        db: ctx.db.clone(),
        account: ctx.account.clone(),
        files: args.files.clone(),
        skip_bad: args.skip_bad,
        dry_run: args.dry_run,
    };
    let quiet = ctx.quiet && !args.dry_run;
    let mut on_file = |r: &FileReport| match args.json {
        true => Ok(()),
        false => print_report(r, quiet, args.dry_run),
    };
    let reports = crate::csv_import::run::run(&plan, &mut on_file).map_err(|e| match e {
        ImportRunError::Database(e) => super::store_failure(&ctx.db, e),
        e @ ImportRunError::Unreadable(_) => Failure::usage(e),
        e => Failure::bad(e),
    })?;
    if args.json {
        let value = serde_json::json!({
            "command": "import", "account": ctx.account, "dry_run": args.dry_run,
            "files": reports.iter().map(file_json).collect::<Vec<_>>(),
        });
        return super::out(&format!("{value}\n"));
    }
    if args.dry_run {
        super::out("dry run: nothing was changed\n")?;
    }
    Ok(())
}

fn print_report(r: &FileReport, quiet: bool, dry_run: bool) -> std::io::Result<()> {
    for w in r.warnings() {
        super::note(&format!("warning: {w}"));
    }
    if quiet {
        return Ok(());
    }
    super::write_out(&format!(
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
