//! `kraken-tax import FILE...`, orchestrated: the database opened (unchanged for a dry run),
//! each file read (a zip into its CSV members) and imported or previewed in order, one
//! transaction per file. The command builds the [`ImportPlan`], shows each [`FileReport`] as it
//! comes and maps an [`ImportRunError`] to an exit code.

use super::{FileReport, ImportError, ImportOptions, import_input, preview_input, read_inputs};
use crate::store::{Source, Store, StoreError};
use std::path::PathBuf;

/// What `import` does.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// The database file (created unless a dry run).
    pub db: PathBuf,
    /// The account the rows belong to.
    pub account: String,
    /// The files, in order: CSV, TSV or Kraken's zip.
    pub files: Vec<PathBuf>,
    /// Skip bad rows (listing them) instead of stopping at the first.
    pub skip_bad: bool,
    /// Say what would be stored, change nothing.
    pub dry_run: bool,
}

/// Why an import stopped. The files before the one named stay imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportRunError {
    /// The database did not open, or was damaged or unwritable.
    #[error(transparent)]
    Database(StoreError),
    /// A file could not be read at all (a usage error: a wrong path).
    #[error(transparent)]
    Unreadable(ImportError),
    /// A file that stopped the import: bad data, or the database failed while storing it.
    /// Said as the file's error with its causes, then what stays imported.
    #[error("{}{}{}", crate::text::chain(.error), skip_note(.error), done_note(*.done))]
    Stopped {
        /// Why; nothing of this file was stored.
        error: ImportError,
        /// Files imported before it.
        done: usize,
    },
    /// Showing a file's report failed.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

/// What `--skip-bad` would do about `e`, when it would help.
fn skip_note(e: &ImportError) -> &'static str {
    if e.skip_bad_helps() {
        " (nothing of this file was stored; fix the row or rerun with --skip-bad)"
    } else {
        ""
    }
}

/// "; the 2 files before it are imported", or nothing.
fn done_note(done: usize) -> String {
    match done {
        0 => String::new(),
        1 => "; the 1 file before it is imported".to_owned(),
        n => format!("; the {n} files before it are imported"),
    }
}

/// Imports (or previews, for a dry run) the files of `plan` in order; `on_file` sees each
/// file's report as soon as it is committed. Returns every report.
pub fn run(
    plan: &ImportPlan,
    on_file: &mut dyn FnMut(&FileReport) -> std::io::Result<()>,
) -> Result<Vec<FileReport>, ImportRunError> {
    let mut store = if plan.dry_run {
        Store::open_unchanged(&plan.db)
    } else {
        Store::open_checked(&plan.db)
    }
    .map_err(ImportRunError::Database)?;
    let opts = ImportOptions {
        skip_bad: plan.skip_bad,
        source: Source::Csv,
    };
    let mut reports = Vec::new();
    for path in &plan.files {
        let stopped = |error, done| ImportRunError::Stopped { error, done };
        let inputs = match read_inputs(path) {
            Ok(i) => i,
            Err(e @ ImportError::Io { .. }) => return Err(ImportRunError::Unreadable(e)),
            Err(e) => return Err(stopped(e, reports.len())),
        };
        for input in &inputs {
            let report = if plan.dry_run {
                preview_input(&mut store, &plan.account, input, opts)
            } else {
                import_input(&mut store, &plan.account, input, opts, &mut |_, _| Ok(()))
            }
            .map_err(|e| stopped(e, reports.len()))?;
            on_file(&report).map_err(ImportRunError::Output)?;
            reports.push(report);
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_import_says_what_skip_bad_would_do_and_what_stays_imported() {
        let io = || ImportError::Zip {
            file: "a.zip".to_owned(),
            source: std::io::Error::other("bad"),
        };
        let e = ImportRunError::Stopped {
            error: io(),
            done: 0,
        };
        assert_eq!(e.to_string(), "a.zip: not a readable zip archive: bad");
        let e = ImportRunError::Stopped {
            error: io(),
            done: 1,
        };
        assert_eq!(
            e.to_string(),
            "a.zip: not a readable zip archive: bad; the 1 file before it is imported"
        );
        let e = ImportRunError::Stopped {
            error: io(),
            done: 3,
        };
        assert_eq!(
            e.to_string(),
            "a.zip: not a readable zip archive: bad; the 3 files before it are imported"
        );
    }
}
