//! `kraken-tax gains`, as a library call: load the selected accounts' whole history, value it
//! as the export does (prices fetched first unless offline), run the engine, write the files
//! atomically. The command file only parses flags into a [`GainsPlan`] and maps errors.

use super::adapter::{LegTexts, UserFacts, Valued, market};
use super::{
    Basis, GainsError, GainsOptions, LotPick, Method, Period, PriceLookup, SummaryRow, SwapFee,
    UnknownCost, Warning, WarningCode,
};
use crate::classify::Rules;
use crate::classify::build::{ensure_fresh, with_stored_labels};
use crate::domain::ReportCurrency;
use crate::export::YearLegs;
use crate::export::csv::write_atomic;
use crate::normalize::assets::AssetTable;
use crate::pricing::{FetchReport, PriceBook, PriceSource, prefetch, refresh_markets};
use crate::store::{EntryLabel, Store, StoreError};
use crate::text::{agree, count};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Everything a gains run needs: built by `config::gains_plan` from the flags, the `[gains]`
/// table and the defaults (the command and `report` alike), converted into the engine's
/// [`GainsOptions`] here.
#[derive(Debug, Clone)]
pub struct GainsPlan {
    /// The accounts pooled (lots and pools span them).
    pub accounts: Accounts,
    /// The period whose rows are written.
    pub period: Period,
    /// Reporting currency.
    pub currency: ReportCurrency,
    /// Matching method.
    pub method: Method,
    /// Lot order of `us` (FIFO for the others).
    pub lots: LotPick,
    /// Unknown costs empty or zero.
    pub unknown_cost: UnknownCost,
    /// Swap fees on their leg or split.
    pub swap_fee: SwapFee,
    /// Kraken's API for market prices; `None`: offline (stored and imported prices only).
    pub prices_from: Option<url::Url>,
    /// Directory of the files.
    pub out: PathBuf,
    /// Classification rules (the config's; stored labels are added per account).
    pub rules: Rules,
}

/// Which accounts a gains run pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// One account (`--account` or the configured one).
    One(String),
    /// Every account of the database (`--all-accounts`).
    All,
}

impl Accounts {
    /// The account names: `All` as the database lists them.
    pub fn resolve(&self, store: &Store) -> Result<Vec<String>, StoreError> {
        match self {
            Accounts::One(a) => Ok(vec![a.clone()]),
            Accounts::All => store.accounts(),
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct GainsOutcome {
    /// The files written, in the order of gains.md.
    pub files: Vec<PathBuf>,
    /// The summary rows (per asset, then `TOTAL`).
    pub summary: Vec<SummaryRow>,
    /// The accounts matched.
    pub accounts: Vec<String>,
    /// Warnings for the user, with their codes.
    pub warnings: Vec<Warning>,
    /// Legs given to the engine.
    pub legs: usize,
    /// Disposal rows written.
    pub disposal_rows: usize,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a file.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Classifying or valuing the history.
    #[error("valuing the history: {0}")]
    Value(std::io::Error),
    /// Grouping an account's ledger.
    #[error("reading account {account:?}: {reason}")]
    Ledger {
        /// The account.
        account: String,
        /// Why.
        reason: String,
    },
    /// The engine.
    #[error(transparent)]
    Engine(#[from] GainsError),
    /// No ledger entries at all in the selected accounts.
    #[error(
        "no ledger entries in {}: run `kraken-tax sync` or `kraken-tax import FILE` first",
        accounts_text(.0)
    )]
    Empty(Vec<String>),
    /// The price client could not be built.
    #[error("market prices")]
    Prices(#[source] crate::kraken::KrakenError),
    /// Reading the stored derived legs.
    #[error(transparent)]
    Read(#[from] crate::export::YearError),
}

/// "account A" or "accounts A, B", for messages.
fn accounts_text(accounts: &[String]) -> String {
    let noun = agree(accounts.len(), "account", "accounts");
    format!("{noun} {}", accounts.join(", "))
}

/// The bounds of the whole history, for [`YearLegs`].
const WHOLE_HISTORY: (i64, i64) = (i64::MIN, i64::MAX);

/// The file names of a run: disposals, income, margin, holdings, summary, income months
/// (+ form8949 for `us`), for period label `L` (`2025`, `2025-uk`), currency and method.
pub fn file_names(label: &str, currency: &str, method: Method) -> Vec<String> {
    let m = method.as_str();
    let mut v = vec![
        format!("gains-disposals-{label}-{currency}-{m}.csv"),
        format!("gains-income-{label}-{currency}.csv"),
        format!("gains-margin-{label}-{currency}.csv"),
        format!("holdings-{label}-{currency}-{m}.csv"),
        format!("gains-summary-{label}-{currency}-{m}.csv"),
        format!("gains-income-months-{label}-{currency}.csv"),
    ];
    if method == Method::Us {
        v.push(format!("form8949-{label}-{currency}.csv"));
    }
    v
}

/// `own-wallet` labels and costs of the selected accounts (the labels go into the rules
/// through `classify::build::with_stored_labels`). Costs in another currency
/// are converted at the acquisition time from `sources`; those that cannot be are warned
/// about and left out (the deposit's cost stays unknown).
fn user_facts(
    store: &Store,
    accounts: &[String],
    currency: &str,
    sources: &mut [&mut dyn PriceSource],
    warnings: &mut Vec<Warning>,
) -> Result<UserFacts, StoreError> {
    let mut facts = UserFacts::default();
    for account in accounts {
        for (reference, label) in store.labels(account)? {
            if label == EntryLabel::OwnWallet {
                facts.own_wallet.insert(reference);
            }
        }
        for r in store.basis_records(account)? {
            let cost = if r.currency == currency {
                Some(r.cost)
            } else {
                market(sources, &r.currency, currency, r.acquired_us)
                    .and_then(|(rate, _)| r.cost.checked_mul(rate))
                    .map(|c| c.round_dp(10))
            };
            let (Some(cost), Some(acquired)) =
                (cost, DateTime::<Utc>::from_timestamp_micros(r.acquired_us))
            else {
                warnings.push(Warning::new(WarningCode::BasisNotConverted, format!(
                    "the basis of {} is in {} and there is no {}/{currency} rate at its acquisition date: its cost stays unknown; give it in {currency}",
                    r.key(),
                    r.currency,
                    r.currency
                )));
                continue;
            };
            let basis = (Basis { cost, acquired }, r.units);
            match (&r.ledger_ref, &r.asset, r.time_us) {
                (Some(id), _, _) => {
                    facts.basis_by_id.insert(id.clone(), basis);
                }
                (None, Some(a), Some(t)) => {
                    facts.basis_by_asset_time.insert((a.clone(), t), basis);
                }
                _ => {}
            }
        }
    }
    Ok(facts)
}

/// Prices for the holdings' value at the period's last moment.
struct Lookup<'a, 'b> {
    sources: RefCell<&'a mut [&'b mut dyn PriceSource]>,
    currency: &'a str,
}

impl PriceLookup for Lookup<'_, '_> {
    fn price(&self, asset: &str, at: DateTime<Utc>) -> Option<Decimal> {
        let mut s = self.sources.borrow_mut();
        market(&mut s, asset, self.currency, at.timestamp_micros()).map(|(p, _)| p)
    }
}

/// Fetches the market prices the whole history of `accounts` needs into the cache (as
/// `export` does for a year); failures become warnings.
async fn fetch_prices(
    store: &Store,
    accounts: &[String],
    currency: &str,
    api_url: &url::Url,
) -> Result<Vec<Warning>, RunError> {
    use crate::kraken::is_loopback;
    use crate::kraken::public::{PublicClient, PublicConfig};
    let mut config = PublicConfig::new(api_url.clone());
    if is_loopback(api_url) {
        config.interval = std::time::Duration::ZERO;
    }
    let mut client = PublicClient::new(config).map_err(RunError::Prices)?;
    let mut report = FetchReport::default();
    refresh_markets(store, &mut client, &mut report).await;
    for account in accounts {
        let to_value = YearLegs::new(store, account, WHOLE_HISTORY).to_value()?;
        let now_us = Utc::now().timestamp_micros();
        prefetch(
            &to_value.legs(),
            currency,
            store,
            &mut client,
            now_us,
            &mut report,
        )
        .await?;
    }
    let code = |m| Warning::new(WarningCode::PriceFetch, m);
    Ok(report.warnings.into_iter().map(code).collect())
}

/// Resident memory of this process in MB (Linux; `None` elsewhere), for the debug log.
fn rss_mb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1024 * 1024))
}

/// Runs `gains` for `plan` on `store`.
pub async fn run(plan: &GainsPlan, store: &mut Store) -> Result<GainsOutcome, RunError> {
    let started = std::time::Instant::now();
    let accounts = plan.accounts.resolve(store)?;
    let currency = plan.currency.as_str();
    let rules = &plan.rules;
    let assets = AssetTable::default();
    // Gains reads the derived legs, as export does: refreshed first if stale.
    for account in &accounts {
        if let Some(report) = ensure_fresh(store, account, &assets, rules)? {
            crate::export::run::warn_unknown_assets(&report);
        }
    }
    let store: &Store = store;
    let mut any = false;
    for account in &accounts {
        any |= store.has_ledger_entries_in(account, WHOLE_HISTORY)?;
    }
    if !any {
        return Err(RunError::Empty(accounts.to_vec()));
    }
    let mut warnings = Vec::new();
    if let Some(url) = &plan.prices_from {
        warnings.extend(fetch_prices(store, &accounts, currency, url).await?);
    }
    let mut kraken = PriceBook::kraken(store)?;
    let mut imports = PriceBook::imports(store)?;
    let mut sources: [&mut dyn PriceSource; 2] = [&mut kraken, &mut imports];
    let facts = user_facts(store, &accounts, currency, &mut sources, &mut warnings)?;
    let mut valued = Valued::default();
    for account in &accounts {
        let rules = with_stored_labels(store, account, rules)?;
        valued
            .add(
                store,
                &YearLegs::new(store, account, WHOLE_HISTORY),
                account,
                currency,
                &rules,
                &facts,
                &mut sources,
            )
            .map_err(RunError::Value)?;
    }
    let mut texts = LegTexts::default();
    let (legs, stats) = valued.finish(&mut texts);
    if let Some((account, id, note)) = &stats.first_unclassified {
        warnings.push(Warning::new(WarningCode::UnclassifiedLegs, format!(
            "{} {} unclassified and left out of gains and holdings (e.g. {account} {id}: {note}): add a [[classify.rules]] entry to the config",
            count(stats.unclassified, "crypto-asset leg"),
            agree(stats.unclassified, "is", "are"),
        )));
    }
    if let Some((id, deposit, basis)) = &stats.first_basis_mismatch {
        warnings.push(Warning::new(WarningCode::BasisUnitsMismatch, format!(
            "{} {} a basis-file cost for other units than {} brought (e.g. {id}: {deposit} deposited, the cost is for {basis}): {} cost stays unknown; give the deposit's own units in the basis file",
            count(stats.basis_mismatch, "deposit"),
            agree(stats.basis_mismatch, "has", "have"),
            agree(stats.basis_mismatch, "it", "they"),
            agree(stats.basis_mismatch, "its", "their"),
        )));
    }
    tracing::debug!(
        "staged {} legs ({} bytes each) at {:.2?}, {:?} MB resident",
        legs.len(),
        std::mem::size_of::<super::GainsLeg<'_>>(),
        started.elapsed(),
        rss_mb()
    );
    let opts = GainsOptions {
        method: plan.method,
        lots: plan.lots,
        swap_fee: plan.swap_fee,
        unknown_cost: plan.unknown_cost,
        period: plan.period.clone(),
        currency: currency.to_owned(),
        accounts: accounts.join("+"),
    };
    let lookup = Lookup {
        sources: RefCell::new(&mut sources),
        currency,
    };
    let report = super::compute(&legs, &opts, &lookup)?;
    tracing::debug!(
        "matched at {:.2?}, {:?} MB resident",
        started.elapsed(),
        rss_mb()
    );
    warnings.extend(report.warnings.iter().cloned());
    let files = write_files(&plan.out, &opts, &report)?;
    tracing::debug!("wrote the files at {:.2?}", started.elapsed());
    Ok(GainsOutcome {
        files,
        summary: report.summary.clone(),
        warnings,
        legs: legs.len(),
        disposal_rows: report.disposals.len(),
        accounts,
    })
}

/// Writes the files of `report` into `dir` (each atomically), returns their paths.
pub fn write_files(
    dir: &Path,
    opts: &GainsOptions,
    report: &super::GainsReport<'_>,
) -> Result<Vec<PathBuf>, RunError> {
    use super::csv as w;
    std::fs::create_dir_all(dir).map_err(|source| RunError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let names = file_names(&opts.period.label, &opts.currency, opts.method);
    let months = super::income_by_month(&report.income, opts.period.tz)?;
    let mut files = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let path = dir.join(name);
        write_atomic(&path, |out| match k {
            0 => w::write_disposals(out, &report.disposals),
            1 => w::write_income(out, &report.income),
            2 => w::write_margin(out, &report.margin),
            3 => w::write_holdings(out, &report.holdings, opts),
            4 => w::write_summary(out, &report.summary, opts),
            5 => w::write_income_months(out, &months, opts),
            _ => w::write_form8949(out, &report.form8949),
        })
        .map_err(|e| RunError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        files.push(path);
    }
    Ok(files)
}

/// The summary as a small fixed-width table (as `demo` prints the CARF one).
pub fn summary_table(rows: &[SummaryRow]) -> String {
    use std::fmt::Write as _;
    let money = super::csv::money2;
    let mut t = format!(
        "  {:<6} {:>9} {:>14} {:>14} {:>10} {:>14} {:>12} {:>8}\n",
        "asset", "disposals", "proceeds", "cost", "fees", "net gain", "income", "unknown"
    );
    for r in rows {
        let _ = writeln!(
            t,
            "  {:<6} {:>9} {:>14} {:>14} {:>10} {:>14} {:>12} {:>8}",
            r.asset,
            r.disposals,
            money(r.proceeds),
            money(r.cost),
            money(r.fees),
            money(Some(r.net_gain)),
            money(Some(r.income)),
            r.unknown_cost_disposals
        );
    }
    t
}

/// The `TOTAL` row of a summary as JSON: money as strings rounded as the summary file
/// rounds it (empty cells are `null`), counts as numbers.
pub fn total_json(rows: &[SummaryRow]) -> serde_json::Value {
    let money = |d: Option<Decimal>| d.map(|d| super::csv::money2(Some(d)));
    let Some(t) = rows.iter().find(|r| r.asset == "TOTAL") else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "disposals": t.disposals,
        "proceeds": money(t.proceeds),
        "cost": money(t.cost),
        "fees": money(t.fees),
        "gains": money(Some(t.gains)),
        "losses": money(Some(t.losses)),
        "net_gain": money(Some(t.net_gain)),
        "short_net": money(t.short_net),
        "long_net": money(t.long_net),
        "exempt_net": money(t.exempt_net),
        "income": money(Some(t.income)),
        "unknown_cost_disposals": t.unknown_cost_disposals,
        "unpriced_disposals": t.unpriced_disposals,
    })
}

/// Warnings as `--json` lists them: `{code, message}`.
pub fn warnings_json(warnings: &[Warning]) -> Vec<serde_json::Value> {
    warnings
        .iter()
        .map(|w| serde_json::json!({"code": w.code.as_str(), "message": w.message}))
        .collect()
}

/// `gains --json`: one object (schemas/json/gains.schema.json).
pub fn outcome_json(plan: &GainsPlan, outcome: &GainsOutcome) -> serde_json::Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::json!({
        "command": "gains",
        "accounts": outcome.accounts,
        "period": plan.period.label,
        "start": time(plan.period.start),
        "end": time(plan.period.end),
        "method": plan.method.as_str(),
        "currency": plan.currency.as_str(),
        "legs": outcome.legs,
        "disposal_rows": outcome.disposal_rows,
        "files": outcome.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "total": total_json(&outcome.summary),
        "warnings": warnings_json(&outcome.warnings),
    })
}

/// The line above the summary table: period, currency, method.
pub fn heading(plan: &GainsPlan) -> String {
    format!(
        "gains {} {} {} (your own computation, not tax advice)",
        plan.period.label, plan.currency, plan.method
    )
}

/// What `demo` prints about gains: one summary per plan (the demo builds them as the command
/// does), files listed, warnings counted; the database at `db`.
pub async fn demo_summary(db: &Path, plans: &[GainsPlan]) -> Result<String, RunError> {
    let mut store = Store::open(db)?;
    let mut text = String::new();
    for plan in plans {
        let outcome = run(plan, &mut store).await?;
        // Said as the gains command says them, so the count below names something.
        for w in &outcome.warnings {
            tracing::warn!("{w}");
        }
        text.push_str(&format!(
            "\nGains {}, {}, method {} (your own computation, not tax advice; {}):\n{}",
            plan.period.label,
            plan.currency,
            plan.method,
            crate::text::count(outcome.warnings.len(), "warning"),
            summary_table(&outcome.summary)
        ));
        for f in &outcome.files {
            text.push_str(&format!("  {}\n", f.display()));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Counterparty;
    use crate::store::EntryLabel;

    #[test]
    fn stored_labels_become_classify_labels_and_win_over_the_config() {
        let store = Store::open_in_memory().unwrap();
        store.set_label("a", "L1", EntryLabel::OwnWallet).unwrap();
        store.set_label("a", "L2", EntryLabel::Exchange).unwrap();
        store
            .set_label("b", "L3", EntryLabel::PrivateWallet)
            .unwrap();
        let mut config = Rules::default();
        config
            .labels
            .insert("L2".into(), Counterparty::PrivateWallet);
        config.labels.insert("L9".into(), Counterparty::Exchange);
        let rules = with_stored_labels(&store, "a", &config).unwrap();
        let got: Vec<(&str, Counterparty)> =
            rules.labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            got,
            [
                ("L1", Counterparty::PrivateWallet),
                ("L2", Counterparty::Exchange),
                ("L9", Counterparty::Exchange)
            ]
        );
    }

    #[test]
    fn file_names_follow_gains_md() {
        assert_eq!(
            file_names("2025-uk", "GBP", Method::Us),
            [
                "gains-disposals-2025-uk-GBP-us.csv",
                "gains-income-2025-uk-GBP.csv",
                "gains-margin-2025-uk-GBP.csv",
                "holdings-2025-uk-GBP-us.csv",
                "gains-summary-2025-uk-GBP-us.csv",
                "gains-income-months-2025-uk-GBP.csv",
                "form8949-2025-uk-GBP.csv"
            ]
        );
    }
}
