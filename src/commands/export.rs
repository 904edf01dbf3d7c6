//! `kraken-tax export --year Y --currency CCY`: the report files of a year.

use super::{Context, Failure};
use crate::classify::build::ensure_fresh;
use crate::cli::ExportArgs;
use crate::export::csv::{TransactionsCsv, write_atomic, write_summary};
use crate::export::{
    ExportError, FeeTreatment, RowRef, SummaryRow, YearLegs, YearTotals, asset_name, year_bounds,
};
use crate::kraken::is_loopback;
use crate::kraken::public::{PublicClient, PublicConfig};
use crate::normalize::assets::AssetTable;
use crate::pricing::{FetchReport, PriceBook, prefetch, refresh_markets};
use anyhow::{Context as _, anyhow};
use chrono_tz::Tz;
use std::path::PathBuf;

/// Reporting currencies accepted.
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY"];

/// Years an export accepts.
const MIN_YEAR: i32 = 1970;
const MAX_YEAR: i32 = 2100;

/// What an export produced.
pub(super) struct Exported {
    pub files: Vec<PathBuf>,
    pub summary: Vec<SummaryRow>,
    /// Legs of the year (rows of the transactions file).
    pub legs: u64,
    /// Of those, legs with an amount.
    pub priced: u64,
    /// Legs that need a value but have none.
    pub unpriced: u64,
}

pub(super) async fn run(ctx: &Context, args: &ExportArgs) -> Result<(), Failure> {
    let exported = export(ctx, args).await?;
    if !ctx.quiet {
        for f in &exported.files {
            super::out(&format!("wrote {}\n", f.display()))?;
        }
    }
    Ok(())
}

/// Runs an export; shared with `demo`.
pub(super) async fn export(ctx: &Context, args: &ExportArgs) -> Result<Exported, Failure> {
    let currency = args.currency.to_ascii_uppercase();
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(Failure::usage(anyhow!(
            "unsupported reporting currency {currency:?}: use one of {}",
            CURRENCIES.join(", ")
        )));
    }
    if !(MIN_YEAR..=MAX_YEAR).contains(&args.year) {
        return Err(Failure::usage(anyhow!(
            "invalid --year {}: use a year from {MIN_YEAR} to {MAX_YEAR}",
            args.year
        )));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(Failure::usage(anyhow!(
            "--out {} is a file, not a directory: give the directory for the report files",
            args.out.display()
        )));
    }
    let fees = match args.fees.as_str() {
        "net" => FeeTreatment::Net,
        "gross" => FeeTreatment::Gross,
        other => {
            return Err(Failure::usage(anyhow!(
                "invalid --fees {other:?}: use net or gross"
            )));
        }
    };
    let tz: Tz = args.tz.parse().map_err(|_| {
        Failure::usage(anyhow!(
            "unknown time zone {:?} for --tz: use an IANA name such as Europe/Berlin, or UTC",
            args.tz
        ))
    })?;
    let formats: Vec<&str> = args.format.split(',').map(str::trim).collect();
    if let Some(bad) = formats.iter().find(|f| !matches!(**f, "csv" | "xml")) {
        return Err(Failure::usage(anyhow!(
            "invalid --format {bad:?}: use csv, xml or csv,xml"
        )));
    }
    let bounds = year_bounds(args.year, tz)
        .ok_or_else(|| Failure::usage(anyhow!("invalid year {}", args.year)))?;
    let rules = &ctx.file.classify;
    rules.validate().map_err(Failure::usage)?;
    let mut store = super::open_store(ctx, true)?;
    let assets = AssetTable::default();
    // The derived legs (events, classification over the whole history) are what the export
    // reads: refreshed first if the raw rows or the rules changed since.
    let started = std::time::Instant::now();
    if let Some(report) =
        ensure_fresh(&mut store, &ctx.account, &assets, rules).map_err(Failure::bad)?
    {
        super::rebuild::warn_unknown_assets(&report);
        tracing::debug!("refreshed the derived legs, at {:.2?}", started.elapsed());
    }
    let in_year = YearLegs::new(&store, &ctx.account, bounds);
    if in_year.is_empty().map_err(Failure::bad)? && !args.allow_empty {
        return Err(Failure::bad(anyhow!(
            "account {:?} has no ledger entries in {} ({}); run `kraken-tax sync` or `kraken-tax import FILE` first, or pass --allow-empty for empty reports",
            ctx.account,
            args.year,
            tz
        )));
    }

    // Prices: fetch what the year needs into the cache, unless offline.
    if !args.offline {
        let api_url = super::api_url(args.api_url.as_deref(), ctx)?;
        let mut config = PublicConfig::new(api_url.clone());
        if is_loopback(&api_url) {
            // The built-in emulator (demo, tests) has no public rate limit to respect.
            config.interval = std::time::Duration::ZERO;
        }
        let mut client = PublicClient::new(config).map_err(Failure::bad)?;
        let mut report = FetchReport::default();
        refresh_markets(&store, &mut client, &mut report).await;
        let to_value = in_year.to_value().map_err(export_failure)?;
        let legs = to_value.legs();
        let now_us = chrono::Utc::now().timestamp_micros();
        prefetch(&legs, &currency, &store, &mut client, now_us, &mut report)
            .await
            .map_err(Failure::bad)?;
        for w in &report.warnings {
            tracing::warn!("{w}");
        }
    }
    let mut kraken = PriceBook::kraken(&store).map_err(Failure::bad)?;
    let mut imports = PriceBook::imports(&store).map_err(Failure::bad)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))
        .map_err(Failure::usage)?;
    let csv = formats.contains(&"csv");
    let summary_path = args
        .out
        .join(format!("carf-summary-{}-{currency}.csv", args.year));
    let transactions_path = args
        .out
        .join(format!("carf-transactions-{}-{currency}.csv", args.year));
    // Each row is written as it is valued; only the summary is kept.
    let mut write_year = |each: &mut dyn FnMut(&RowRef<'_>) -> std::io::Result<()>| {
        in_year.write_year(&currency, fees, &mut [&mut kraken, &mut imports], each)
    };
    let totals = if csv {
        let mut totals = None;
        let mut failed = None;
        let written = write_atomic(&transactions_path, |out| {
            let mut w = TransactionsCsv::new(out, &currency)?;
            match write_year(&mut |r| w.write(r)) {
                Ok(t) => totals = Some(t),
                Err(ExportError::Io(e)) => return Err(e),
                Err(e) => {
                    failed = Some(e);
                    return Err(std::io::Error::other("export stopped"));
                }
            }
            w.finish()
        });
        if let Some(e) = failed {
            return Err(export_failure(e));
        }
        written.map_err(Failure::bad)?;
        totals.unwrap_or_default()
    } else {
        write_year(&mut |_| Ok(())).map_err(export_failure)?
    };
    tracing::debug!(
        "read, valued and wrote {} legs of {}, at {:.2?}",
        totals.legs,
        args.year,
        started.elapsed()
    );
    let mut warnings = warn(&totals);
    match crate::verify::gaps_in_year(&store, &ctx.account, args.year) {
        Ok(Some(gaps)) if !gaps.is_empty() => {
            warnings += 1;
            tracing::warn!(
                "the history has {} unresolved gap(s) that may touch {} (e.g. {} missing before {}): run `kraken-tax verify` and sync or import the missing entries",
                gaps.len(),
                args.year,
                gaps[0].asset,
                gaps[0].next_id
            );
        }
        Ok(Some(_)) => {}
        Ok(None) => tracing::info!("the history was never verified; run `kraken-tax verify`"),
        Err(e) => tracing::warn!("cannot read the last verification: {e}"),
    }
    let legs = totals.legs;
    let priced = totals.priced;
    let unpriced = totals.unpriced;
    let summary = totals.summary.rows(asset_name);

    let mut files = Vec::new();
    if csv {
        write_summary(
            &summary_path,
            args.year,
            &ctx.account,
            &currency,
            fees,
            &summary,
        )
        .map_err(Failure::bad)?;
        files.push(summary_path);
        files.push(transactions_path);
    }
    if formats.contains(&"xml") {
        let x = write_xml(ctx, args, &currency, fees, &summary, &files)?;
        files.push(x);
    }
    tracing::debug!("wrote the summary, done at {:.2?}", started.elapsed());
    if args.strict && warnings > 0 {
        return Err(Failure::bad(anyhow!(
            "{warnings} warning(s) and --strict: the files were written but need attention"
        )));
    }
    Ok(Exported {
        files,
        summary,
        legs,
        priced,
        unpriced,
    })
}

/// The failure of reading the year: exit 75 when entries arrived meanwhile, else 1.
fn export_failure(e: ExportError) -> Failure {
    match e {
        e @ ExportError::Stale { .. } => Failure::temporary(e),
        e => Failure::bad(e),
    }
}

/// Writes warnings about unpriced and unclassified legs (counts and examples); returns how
/// many kinds of problem there were.
fn warn(totals: &YearTotals) -> usize {
    let mut kinds = 0;
    if let Some((ledger_id, asset, time)) = &totals.first_unpriced {
        kinds += 1;
        tracing::warn!(
            "{} leg(s) have no price and are reported without an amount (e.g. {} {} {}): import a price table with `kraken-tax prices import`",
            totals.unpriced,
            ledger_id,
            asset,
            crate::export::format_time(*time)
        );
    }
    if let Some((ledger_id, note)) = &totals.first_unclassified {
        kinds += 1;
        tracing::warn!(
            "{} leg(s) are unclassified (e.g. {}: {}): add a [[classify.rules]] entry to the config",
            totals.unclassified,
            ledger_id,
            note
        );
    }
    kinds
}

/// Writes `carf-Y-CCY.xml`, or with `--draft` and values missing `carf-Y-CCY.draft.xml`;
/// returns the path written. Values missing without `--draft`: no file, exit 1, the list.
fn write_xml(
    ctx: &Context,
    args: &ExportArgs,
    currency: &str,
    fees: FeeTreatment,
    summary: &[SummaryRow],
    written: &[PathBuf],
) -> Result<PathBuf, Failure> {
    use crate::export::xml::{XmlIdentity, XmlReport, message_ref_id, missing, write_carf_xml};
    let year = args.year;
    let id = &ctx.file.identity;
    let mut identity = XmlIdentity::kraken_for_currency(currency);
    let set = |slot: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            slot.clone_from(value);
        }
    };
    set(&mut identity.user_first_name, &id.first_name);
    set(&mut identity.user_last_name, &id.last_name);
    set(&mut identity.user_tin, &id.tin);
    set(&mut identity.user_country, &id.country);
    set(&mut identity.user_street, &id.street);
    set(&mut identity.user_post_code, &id.post_code);
    set(&mut identity.user_city, &id.city);
    set(&mut identity.user_birth_date, &id.birth_date);
    set(&mut identity.user_birth_city, &id.birth_city);
    set(&mut identity.user_birth_country, &id.birth_country);
    set(&mut identity.rcasp_name, &id.provider_name);
    set(&mut identity.rcasp_tin, &id.provider_tin);
    set(&mut identity.rcasp_country, &id.provider_country);
    let now = chrono::Utc::now();
    let mut report = XmlReport {
        year,
        currency,
        account: &ctx.account,
        fees,
        rows: summary,
        identity: &identity,
        timestamp: now,
        message_ref_id: message_ref_id(&identity, year, now),
        draft: false,
    };
    let valid_path = args.out.join(format!("carf-{year}-{currency}.xml"));
    let mut path = valid_path.clone();
    let needs = missing(&report);
    if !needs.is_empty() {
        if args.draft {
            // Only a file that cannot be valid is a draft.
            report.draft = true;
            path = args.out.join(format!("carf-{year}-{currency}.draft.xml"));
            if !ctx.quiet {
                tracing::warn!(
                    "{} is a draft with marked placeholders for what is missing: {}",
                    path.display(),
                    needs.join("; ")
                );
            }
        } else {
            // The CSV files are written: say so, and how to get a valid file or a draft.
            let csv = if written.is_empty() {
                String::new()
            } else {
                format!(
                    " The CSV files were written ({}).",
                    written
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(Failure::bad(anyhow!(
                "no {} written: a valid CARF XML needs {}.{csv} Pass --draft to write carf-{year}-{currency}.draft.xml with marked placeholders instead (a reconciliation aid, not valid for filing).",
                valid_path.display(),
                needs.join("; ")
            )));
        }
    }
    crate::export::csv::write_atomic(&path, |out| {
        write_carf_xml(&report, out).map_err(std::io::Error::other)
    })
    .map_err(Failure::bad)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use crate::export::xml::XmlIdentity;

    #[test]
    fn the_missing_identity_warning_names_keys_the_config_accepts() {
        let identity = XmlIdentity::kraken_for_currency("EUR");
        // The words `export::xml::missing` uses: the XML field names without `user_`.
        let keys: Vec<&str> = identity
            .missing_user_fields()
            .iter()
            .map(|f| f.trim_start_matches("user_"))
            .collect();
        assert_eq!(
            keys,
            [
                "first_name",
                "last_name",
                "tin",
                "country",
                "city",
                "birth_date"
            ]
        );
        let toml: String = keys.iter().map(|k| format!("{k} = \"x\"\n")).collect();
        let config = crate::config::parse(
            &format!("[identity]\n{toml}"),
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(config.identity.city.as_deref(), Some("x"));
        assert_eq!(config.identity.birth_date.as_deref(), Some("x"));
    }
}
