//! One export of a year, orchestrated: the ledger read and grouped, the derived table kept
//! current, market prices fetched into the cache (unless offline), the transactions and
//! summary CSV written, then the CARF XML, a draft, or a refusal naming what is missing.
//! The command only builds the [`ExportPlan`] and maps an [`ExportError`] to an exit code.

use super::csv::{TransactionsCsv, WriteError, write_atomic, write_summary};
use super::xml::{XmlIdentity, XmlReport, message_ref_id, missing, write_carf_xml};
use super::{FeeTreatment, RowRef, SummaryRow, YearError, YearLegs, YearTotals, asset_name};
use crate::classify::Rules;
use crate::classify::build::{BuildReport, ensure_fresh};
use crate::domain::ReportCurrency;
use crate::kraken::public::{PublicClient, PublicConfig};
use crate::kraken::{KrakenError, is_loopback};
use crate::normalize::assets::AssetTable;
use crate::pricing::{FetchReport, PriceBook, prefetch, refresh_markets};
use crate::store::{Store, StoreError};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};
use url::Url;

/// A file `--format` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The summary and transactions CSV files.
    Csv,
    /// The CARF XML (or its draft).
    Xml,
}

/// Everything an export needs, resolved (see `config::export_plan`).
#[derive(Debug, Clone)]
pub struct ExportPlan {
    /// The account exported.
    pub account: String,
    /// `-q`: no draft warning.
    pub quiet: bool,
    /// Calendar year reported.
    pub year: i32,
    /// Reporting currency.
    pub currency: ReportCurrency,
    /// Directory of the files.
    pub out: PathBuf,
    /// Net or gross amounts.
    pub fees: FeeTreatment,
    /// Time zone of the year boundary.
    pub tz: Tz,
    /// The year as `[start, end)` in microseconds since the epoch, UTC.
    pub bounds: (i64, i64),
    /// Write the CSV files.
    pub csv: bool,
    /// Write the CARF XML.
    pub xml: bool,
    /// Write header-only files when the year has no entries.
    pub allow_empty: bool,
    /// Warnings fail the export (after writing).
    pub strict: bool,
    /// Write a marked draft where the XML would miss required values.
    pub draft: bool,
    /// Where market prices are fetched; `None`: offline.
    pub prices_from: Option<Url>,
    /// Classification rules.
    pub rules: Rules,
    /// Who the XML names.
    pub identity: XmlIdentity,
}

/// What an export produced.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// The summary rows.
    pub summary: Vec<SummaryRow>,
    /// Legs of the year (rows of the transactions file).
    pub legs: u64,
    /// Of those, legs with an amount.
    pub priced: u64,
    /// Legs that need a value but have none.
    pub unpriced: u64,
}

/// Why an export wrote nothing, or not everything.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The price client could not be set up.
    #[error(transparent)]
    Client(#[from] KrakenError),
    /// Nothing in the year, and `--allow-empty` not given.
    #[error(
        "account {account:?} has no ledger entries in {year} ({tz}); run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --allow-empty for empty reports"
    )]
    Empty {
        /// The account.
        account: String,
        /// The year.
        year: i32,
        /// Its time zone.
        tz: Tz,
    },
    /// The output directory could not be created.
    #[error("creating {}", .path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A report file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Valuing the year failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading the year's derived legs failed.
    #[error(transparent)]
    Year(#[from] YearError),
    /// The CARF XML would miss required values and `--draft` was not given.
    #[error(
        "no {} written: a valid CARF XML needs {}.{} Pass --draft to write carf-{year}-{currency}.draft.xml with marked placeholders instead (a reconciliation aid, not valid for filing).",
        .path.display(), .needs.join("; "), written_note(.written)
    )]
    XmlRefused {
        /// The valid file's path.
        path: PathBuf,
        /// What is missing.
        needs: Vec<String>,
        /// The CSV files that were written.
        written: Vec<PathBuf>,
        /// The year.
        year: i32,
        /// The currency.
        currency: ReportCurrency,
    },
    /// `--strict` and warnings: the files are written.
    #[error("{} and --strict: the files were written but need attention", crate::text::count(*.0, "warning"))]
    Strict(usize),
}

impl ExportError {
    /// A usage or setup problem (exit 2) rather than a failure (exit 1).
    pub fn is_usage(&self) -> bool {
        // An empty year is refused unless --allow-empty says so: the fix is a flag or
        // another command first (like "no database"), so it is a usage error.
        matches!(
            self,
            ExportError::CreateDir { .. } | ExportError::Empty { .. }
        )
    }

    /// Entries were stored while the export ran: run it again (exit 75).
    pub fn is_temporary(&self) -> bool {
        matches!(self, ExportError::Year(YearError::Stale { .. }))
    }

    /// The database error inside, if any (its kind decides the exit code).
    pub fn store(&self) -> Option<&StoreError> {
        match self {
            ExportError::Store(e) => Some(e),
            ExportError::Year(e) => e.store(),
            _ => None,
        }
    }
}

/// " The CSV files were written (a, b)." or nothing.
fn written_note(written: &[PathBuf]) -> String {
    if written.is_empty() {
        return String::new();
    }
    let list: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    format!(" The CSV files were written ({}).", list.join(", "))
}

/// Runs the export of `plan` on `store`: see the module docs.
pub async fn run(plan: &ExportPlan, store: &mut Store) -> Result<Exported, ExportError> {
    let rules = &plan.rules;
    // The derived legs (events, classification over the whole history) are what the export
    // reads: refreshed first if the raw rows or the rules changed since.
    let started = std::time::Instant::now();
    if let Some(report) = ensure_fresh(store, &plan.account, &AssetTable::default(), rules)? {
        warn_unknown_assets(&report);
        tracing::debug!("refreshed the derived legs, at {:.2?}", started.elapsed());
    }
    let in_year = YearLegs::new(store, &plan.account, plan.bounds);
    if in_year.is_empty()? && !plan.allow_empty {
        return Err(ExportError::Empty {
            account: plan.account.clone(),
            year: plan.year,
            tz: plan.tz,
        });
    }
    if let Some(url) = &plan.prices_from {
        fetch_prices(plan, url, store, &in_year).await?;
    }
    std::fs::create_dir_all(&plan.out).map_err(|source| ExportError::CreateDir {
        path: plan.out.clone(),
        source,
    })?;
    let (totals, transactions) = write_transactions(plan, store, &in_year)?;
    tracing::debug!(
        "read, valued and wrote {} legs of {}, at {:.2?}",
        totals.legs,
        plan.year,
        started.elapsed()
    );
    let warnings = warn(&totals) + warn_gaps(store, plan);
    let summary = totals.summary.rows(asset_name);
    let mut files = Vec::new();
    if let Some(transactions) = transactions {
        let (year, currency) = (plan.year, plan.currency.as_str());
        let path = plan.out.join(format!("carf-summary-{year}-{currency}.csv"));
        write_summary(&path, year, &plan.account, currency, plan.fees, &summary)?;
        files.push(path);
        files.push(transactions);
    }
    if plan.xml {
        let x = write_xml(plan, &summary, &files)?;
        files.push(x);
    }
    tracing::debug!("wrote the summary, done at {:.2?}", started.elapsed());
    if plan.strict && warnings > 0 {
        return Err(ExportError::Strict(warnings));
    }
    Ok(Exported {
        files,
        summary,
        legs: totals.legs,
        priced: totals.priced,
        unpriced: totals.unpriced,
    })
}

/// Warnings for asset codes that were not recognised when the derived table was refreshed.
pub fn warn_unknown_assets(report: &BuildReport) {
    for (code, n) in &report.unknown_assets {
        tracing::warn!(
            "asset code {code:?} is not recognised ({}); it is reported unchanged",
            crate::text::count(*n, "leg")
        );
    }
}

/// Fetches what the year needs into the price cache.
async fn fetch_prices(
    plan: &ExportPlan,
    api_url: &Url,
    store: &Store,
    in_year: &YearLegs<'_>,
) -> Result<(), ExportError> {
    let mut config = PublicConfig::new(api_url.clone());
    if is_loopback(api_url) {
        // The built-in emulator (demo, tests) has no public rate limit to respect.
        config.interval = std::time::Duration::ZERO;
    }
    let mut client = PublicClient::new(config)?;
    let mut report = FetchReport::default();
    refresh_markets(store, &mut client, &mut report).await;
    let to_value = in_year.to_value()?;
    let legs = to_value.legs();
    let now_us = chrono::Utc::now().timestamp_micros();
    let currency = plan.currency.as_str();
    prefetch(&legs, currency, store, &mut client, now_us, &mut report).await?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok(())
}

/// Values the year's legs, writing each to the transactions CSV as it is valued (only the
/// summary is kept); returns the totals and the transactions file, if written.
fn write_transactions(
    plan: &ExportPlan,
    store: &Store,
    in_year: &YearLegs<'_>,
) -> Result<(YearTotals, Option<PathBuf>), ExportError> {
    let mut kraken = PriceBook::kraken(store)?;
    let mut imports = PriceBook::imports(store)?;
    let currency = plan.currency.as_str();
    let mut write_year = |each: &mut dyn FnMut(&RowRef<'_>) -> std::io::Result<()>| {
        in_year.write_year(currency, plan.fees, &mut [&mut kraken, &mut imports], each)
    };
    if !plan.csv {
        return Ok((write_year(&mut |_| Ok(()))?, None));
    }
    let path = plan
        .out
        .join(format!("carf-transactions-{}-{currency}.csv", plan.year));
    let mut totals = None;
    // A failure to read the year is kept as it is (its kind decides the exit code); the file
    // is not placed.
    let mut failed = None;
    let written = write_atomic(&path, |out| {
        let mut w = TransactionsCsv::new(out, currency)?;
        match write_year(&mut |r| w.write(r)) {
            Ok(t) => totals = Some(t),
            Err(YearError::Io(e)) => return Err(e),
            Err(e) => {
                failed = Some(e);
                return Err(std::io::Error::other("export stopped"));
            }
        }
        w.finish()
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    written?;
    Ok((totals.unwrap_or_default(), Some(path)))
}

/// Writes warnings about unpriced and unclassified legs (counts and examples); returns how
/// many kinds of problem there were.
fn warn(totals: &YearTotals) -> usize {
    let mut kinds = 0;
    if let Some((ledger_id, asset, time)) = &totals.first_unpriced {
        kinds += 1;
        tracing::warn!(
            "{} no price and {} reported without an amount (e.g. {} {} {}): import a price table with `kraken-tax prices import`",
            crate::text::count(totals.unpriced, "leg")
                + " "
                + crate::text::agree(totals.unpriced, "has", "have"),
            crate::text::agree(totals.unpriced, "is", "are"),
            ledger_id,
            asset,
            super::format_time(*time)
        );
    }
    if let Some((ledger_id, note)) = &totals.first_unclassified {
        kinds += 1;
        tracing::warn!(
            "{} {} unclassified (e.g. {}: {}): add a [[classify.rules]] entry to the config",
            crate::text::count(totals.unclassified, "leg"),
            crate::text::agree(totals.unclassified, "is", "are"),
            ledger_id,
            note
        );
    }
    kinds
}

/// A warning when the last verification found gaps that may touch the year; returns 1 then.
fn warn_gaps(store: &Store, plan: &ExportPlan) -> usize {
    match crate::verify::gaps_in_year(store, &plan.account, plan.year) {
        Ok(Some(gaps)) if !gaps.is_empty() => {
            tracing::warn!(
                "the history has {} that may touch {} (e.g. {} missing before {}): run `kraken-tax verify` and sync or import the missing entries",
                crate::text::count(gaps.len(), "unresolved gap"),
                plan.year,
                gaps[0].asset,
                gaps[0].next_id
            );
            return 1;
        }
        Ok(Some(_)) => {}
        Ok(None) => tracing::info!("the history was never verified; run `kraken-tax verify`"),
        Err(e) => tracing::warn!(
            "cannot read the last verification: {}",
            crate::text::chain(&e)
        ),
    }
    0
}

/// Writes `carf-Y-CCY.xml`, or with `--draft` and values missing `carf-Y-CCY.draft.xml`;
/// returns the path written. Values missing without `--draft`: no file, the list.
fn write_xml(
    plan: &ExportPlan,
    summary: &[SummaryRow],
    written: &[PathBuf],
) -> Result<PathBuf, ExportError> {
    let (year, currency) = (plan.year, plan.currency.as_str());
    let now = chrono::Utc::now();
    let mut report = XmlReport {
        year,
        currency,
        account: &plan.account,
        fees: plan.fees,
        rows: summary,
        identity: &plan.identity,
        timestamp: now,
        message_ref_id: message_ref_id(&plan.identity, year, now),
        draft: false,
    };
    let valid_path = plan.out.join(format!("carf-{year}-{currency}.xml"));
    let draft_path = plan.out.join(format!("carf-{year}-{currency}.draft.xml"));
    let mut path = valid_path.clone();
    let needs = missing(&report);
    if !needs.is_empty() {
        // A file of an earlier export would sit beside CSV files it no longer matches.
        remove_stale(&valid_path)?;
        if !plan.draft {
            // The CSV files are written: say so, and how to get a valid file or a draft.
            return Err(ExportError::XmlRefused {
                path: valid_path,
                needs,
                written: written.to_vec(),
                year,
                currency: plan.currency,
            });
        }
        // Only a file that cannot be valid is a draft.
        report.draft = true;
        path = draft_path.clone();
        if !plan.quiet {
            tracing::warn!(
                "{} is a draft with marked placeholders for what is missing: {}",
                path.display(),
                needs.join("; ")
            );
        }
    }
    write_atomic(&path, |out| {
        write_carf_xml(&report, out).map_err(std::io::Error::other)
    })?;
    if !report.draft {
        remove_stale(&draft_path)?;
    }
    Ok(path)
}

/// Removes `path`, the XML of an earlier export of the same year and currency that this
/// export does not rewrite, and says so; nothing when there is none.
fn remove_stale(path: &Path) -> Result<(), ExportError> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::warn!(
                "removed {} from an earlier export: it no longer matches the CSV files",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
