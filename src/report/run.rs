//! One report of a year: the export run (its CSV files), the gains files of the method read
//! from the same directory, the store's completeness facts, then the HTML page and, when
//! asked, the workbook. The command only builds the [`ReportPlan`] and maps the error.

use super::files::{GainsFiles, read_carf, read_gains};
use super::html::{Inputs, checklist, render};
use super::{Facts, Meta, ReportError, Table};
use crate::export::run::{ExportPlan, Exported};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Everything a report needs, resolved.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// The export run first (CSV only; its `out` is the report's directory).
    pub export: ExportPlan,
    /// The gains method's name (`fifo`, `uk`, …).
    pub method: String,
    /// Write the HTML page.
    pub html: bool,
    /// Write the workbook.
    pub xlsx: bool,
}

/// What a report run produced.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The export's files, then the report's.
    pub files: Vec<PathBuf>,
    /// The report files only.
    pub report_files: Vec<PathBuf>,
    /// The export's result.
    pub exported: Exported,
    /// Whether gains files were found for the method.
    pub gains: bool,
}

/// `report-Y-CCY.html` / `.xlsx` in `dir`.
pub fn report_path(dir: &Path, year: i32, ccy: &str, ext: &str) -> PathBuf {
    dir.join(format!("report-{year}-{ccy}.{ext}"))
}

/// Runs the export, reads the files and writes the report.
pub async fn run(plan: &ReportPlan, store: &mut Store) -> Result<Reported, ReportError> {
    let mut export = plan.export.clone();
    export.csv = true;
    export.xml = false;
    let exported = crate::export::run::run(&export, store).await?;
    let gains_files = gains(plan, &export, store).await?;
    let facts = facts(store, &export)?;
    let mut files = exported.files.clone();
    files.extend(gains_files);
    let (report_files, gains) = write_report(&export, &plan.method, &facts, plan.html, plan.xlsx)?;
    files.extend(report_files.iter().cloned());
    Ok(Reported {
        files,
        report_files,
        exported,
        gains,
    })
}

/// Runs `gains` for the report's method over the export's calendar year (so the files carry
/// the year's label the report reads), writing its files beside the export's.
async fn gains(
    plan: &ReportPlan,
    export: &ExportPlan,
    store: &mut Store,
) -> Result<Vec<PathBuf>, ReportError> {
    use crate::gains::{LotPick, Method, Period, SwapFee, UnknownCost};
    let method =
        Method::parse(&plan.method).ok_or_else(|| ReportError::Method(plan.method.clone()))?;
    let period = Period::calendar_year(export.year, export.tz)
        .ok_or_else(|| ReportError::Method(format!("year {}", export.year)))?;
    let gains_plan = crate::gains::run::GainsPlan {
        accounts: vec![export.account.clone()],
        currency: export.currency.as_str().to_owned(),
        method,
        lots: LotPick::Fifo,
        swap_fee: SwapFee::Leg,
        unknown_cost: UnknownCost::Empty,
        period,
        out: export.out.clone(),
        api_url: export.prices_from.clone(),
    };
    let outcome = crate::gains::run::run(&gains_plan, store, &export.rules).await?;
    for w in &outcome.warnings {
        tracing::warn!("{w}");
    }
    Ok(outcome.files)
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
