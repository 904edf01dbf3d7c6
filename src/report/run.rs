//! One report of a year: the export run (its CSV files), the gains files of the method read
//! from the same directory, the store's completeness facts, then the HTML page and, when
//! asked, the workbook. The command only builds the [`ReportPlan`] (the export's plan and the
//! gains' plan, each resolved as its own command resolves it) and maps the error.

use super::files::{GainsFiles, read_carf, read_gains};
use super::html::{Inputs, checklist, render};
use super::{Facts, Meta, ReportError, Table};
use crate::export::run::{ExportPlan, Exported};
use crate::gains::{GainsOutcome, GainsPlan};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Everything a report needs, resolved.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// The export run first (CSV only; its `out` is the report's directory).
    pub export: ExportPlan,
    /// The gains run of the report's method, resolved by `config::gains_plan` as for the
    /// `gains` command: the export's calendar year, currency and directory.
    pub gains: GainsPlan,
    /// Write the HTML page.
    pub html: bool,
    /// Write the workbook.
    pub xlsx: bool,
}

/// What a report run produced.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The export's files, then the gains', then the report's.
    pub files: Vec<PathBuf>,
    /// The report files only.
    pub report_files: Vec<PathBuf>,
    /// The export's result.
    pub exported: Exported,
    /// The gains run's result.
    pub gained: GainsOutcome,
    /// Whether gains files were found for the method.
    pub gains: bool,
}

/// `report-Y-CCY.html` / `.xlsx` in `dir`.
pub fn report_path(dir: &Path, year: i32, ccy: &str, ext: &str) -> PathBuf {
    dir.join(format!("report-{year}-{ccy}.{ext}"))
}

/// Runs the export and the gains, reads the files and writes the report.
pub async fn run(plan: &ReportPlan, store: &mut Store) -> Result<Reported, ReportError> {
    let mut export = plan.export.clone();
    export.csv = true;
    export.xml = false;
    let exported = crate::export::run::run(&export, store).await?;
    let gained = crate::gains::run::run(&plan.gains, store).await?;
    for w in &gained.warnings {
        tracing::warn!("{w}");
    }
    let facts = facts(store, &export)?;
    let mut files = exported.files.clone();
    files.extend(gained.files.iter().cloned());
    let method = plan.gains.method.as_str();
    let (report_files, gains) = write_report(&export, method, &facts, plan.html, plan.xlsx)?;
    files.extend(report_files.iter().cloned());
    Ok(Reported {
        files,
        report_files,
        exported,
        gained,
        gains,
    })
}

/// `report --json`: one object (schemas/json/report.schema.json).
pub fn reported_json(plan: &ReportPlan, reported: &Reported) -> serde_json::Value {
    use crate::gains::run::{total_json, warnings_json};
    let paths = |f: &[PathBuf]| {
        f.iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
    };
    let e = &reported.exported;
    let mut warnings = Vec::new();
    if e.unpriced > 0 {
        warnings.push(serde_json::json!({
            "code": "unpriced_legs",
            "message": format!("{} legs need a value but have none", e.unpriced),
        }));
    }
    warnings.extend(warnings_json(&reported.gained.warnings));
    serde_json::json!({
        "command": "report",
        "account": plan.export.account,
        "year": plan.export.year,
        "period": plan.gains.period.label,
        "method": plan.gains.method.as_str(),
        "currency": plan.export.currency.as_str(),
        "files": paths(&reported.files),
        "report_files": paths(&reported.report_files),
        "legs": e.legs,
        "priced": e.priced,
        "unpriced": e.unpriced,
        "disposal_rows": reported.gained.disposal_rows,
        "total": total_json(&reported.gained.summary),
        "warnings": warnings,
    })
}

/// The gains files of the method, read from the report's directory when a gains run wrote
/// them there; `None` when it did not (the checklist then says how to compute them).
pub fn gains_files(export: &ExportPlan, method: &str) -> Result<Option<GainsFiles>, ReportError> {
    read_gains(&export.out, export.year, export.currency.as_str(), method)
}

/// Reads the files in the export's directory and writes the report files: their paths, and
/// whether gains files were found.
pub fn write_report(
    export: &ExportPlan,
    method: &str,
    facts: &Facts,
    html: bool,
    xlsx: bool,
) -> Result<(Vec<PathBuf>, bool), ReportError> {
    let (year, ccy) = (export.year, export.currency.as_str());
    let carf = read_carf(&export.out, year, ccy)?;
    let gains = gains_files(export, method)?;
    let meta = Meta {
        year,
        currency: ccy.to_owned(),
        method: method.to_owned(),
        tz: export.tz.name().to_owned(),
    };
    let inputs = Inputs {
        meta: &meta,
        facts,
        carf: &carf,
        gains: gains.as_ref(),
    };
    let mut out = Vec::new();
    if html {
        let path = report_path(&export.out, year, ccy, "html");
        let page = render(&inputs);
        crate::export::csv::write_atomic(&path, |w| w.write_all(page.as_bytes()))?;
        out.push(path);
    }
    if xlsx {
        let path = report_path(&export.out, year, ccy, "xlsx");
        let mut tables: Vec<&Table> = vec![&carf.summary, &carf.transactions];
        if let Some(g) = &gains {
            tables.push(&g.summary);
            tables.extend(
                [&g.disposals, &g.income, &g.margin, &g.holdings]
                    .into_iter()
                    .flatten(),
            );
        }
        super::xlsx::write(&path, &tables, &checklist(&inputs))?;
        out.push(path);
    }
    Ok((out, gains.is_some()))
}

/// The completeness facts of the plan's account, read as `status` reads them.
pub fn facts(store: &Store, export: &ExportPlan) -> Result<Facts, ReportError> {
    let account = &export.account;
    let last_sync = store
        .last_run(account)?
        .map(|r| format!("started {}, {}", r.started_at, r.outcome.label()));
    let rec = store.latest_verify(account)?;
    let verify = rec.as_ref().map(|r| {
        if r.consistent {
            format!("consistent, checked {}", r.checked_at)
        } else {
            format!("NOT consistent, checked {}", r.checked_at)
        }
    });
    let unclassified = store
        .derived_counts(account)?
        .into_iter()
        .find(|(e, _)| e == "Unclassified")
        .map_or(0, |(_, n)| n);
    Ok(Facts {
        account: account.clone(),
        last_sync,
        verify,
        gaps: rec.as_ref().map_or(0, |r| r.gaps),
        consistent: rec.map(|r| r.consistent),
        unclassified,
        identity_missing: export
            .identity
            .missing_user_fields()
            .iter()
            .map(|f| f.trim_start_matches("user_").to_owned())
            .collect(),
    })
}
