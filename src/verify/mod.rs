//! Balance-continuity and reconciliation checks: can the stored history be shown complete?
//!
//! Three checks, each a pure piece over domain types with a thin reader around it:
//! - [`ChainChecker`]: per asset (and wallet), `balance_after = balance_before + amount - fee`
//!   over the ledger in time order; a break is a probable gap between two named entries, with
//!   the missing net amount. See the module docs of `chain` for every decision made.
//! - [`TradeLegChecker`]: every trade's ledger legs are stored and match its volume and cost.
//! - [`compare_balances`]: the newest stored balance of each asset equals Kraken's `Balance`
//!   (the only check that sees an entry missing at the very end of a chain). It needs the API
//!   and the Query Funds permission, so it is optional: [`balance_check`] runs it.
//!
//! [`check_account`] reads an account in one ordered pass (memory grows with the number of
//! trades and chains, not entries) and returns a [`VerifyReport`]; [`record`] keeps it in the
//! database, [`latest`] reads it back, and [`VerifyReport::gaps_in_year`] tells which gaps may
//! touch a calendar year.

mod chain;
mod report;
mod trades;

pub mod run;

pub use chain::{ChainChecker, ChainKey, OutOfRange};
pub use report::{
    BalanceCheck, BalanceMismatch, ChainSummary, Gap, TradeProblem, VerifyReport, compare_balances,
};
pub use trades::TradeLegChecker;

use crate::kraken::{KrakenClient, KrakenError};
use crate::store::{Store, StoreError, VerifyRecord, VerifyTrigger};

/// Why a verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sum of the stored numbers does not fit in a decimal.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// A recorded report could not be read back (written by another version, or damaged).
    #[error("the recorded verification report cannot be read")]
    Report(#[source] serde_json::Error),
}

/// Runs the local checks (balance chains and trade legs) over everything stored for `account`.
/// The balance comparison is left as [`BalanceCheck::NotRun`].
pub fn check_account(store: &Store, account: &str) -> Result<VerifyReport, VerifyError> {
    let mut legs = TradeLegChecker::new();
    store.scan_trades(account, |t| legs.add_trade(t))?;
    let mut chains = ChainChecker::new();
    store.scan_ledger_entries(account, |e| {
        legs.observe(&e);
        chains.push_owned(e);
    })?;
    let entries = chains.entries();
    let trades = legs.trades();
    let (gaps, summaries) = chains.finish()?;
    Ok(VerifyReport::new(
        account,
        entries,
        trades,
        gaps,
        legs.finish()?,
        summaries,
    ))
}

/// Asks Kraken for the current balances and compares them with the report's chains. Never
/// fails: a missing permission or an unreachable Kraken becomes [`BalanceCheck::Skipped`] with
/// the reason, since the local checks stand on their own.
pub async fn balance_check(client: &mut KrakenClient, report: &VerifyReport) -> BalanceCheck {
    match client.balance().await {
        Ok(balances) => compare_balances(&report.chains, &balances),
        Err(e @ KrakenError::PermissionDenied { .. }) => BalanceCheck::Skipped {
            reason: e.to_string(),
        },
        Err(e) => BalanceCheck::Skipped {
            reason: format!("{e}; run verify again later to compare with Kraken's balances"),
        },
    }
}

/// Records `report` for its account. `run_id` is the sync run it followed, if any.
pub fn record(
    store: &Store,
    report: &VerifyReport,
    trigger: VerifyTrigger,
    run_id: Option<i64>,
) -> Result<(), VerifyError> {
    let balance_check = match &report.balance_check {
        BalanceCheck::NotRun => "not_run",
        BalanceCheck::Skipped { .. } => "skipped",
        BalanceCheck::Matched { .. } => "matched",
        BalanceCheck::Mismatch { .. } => "mismatch",
    };
    let report_json = serde_json::to_string(report).map_err(VerifyError::Report)?;
    store.record_verify(
        &report.account,
        &VerifyRecord {
            checked_at: String::new(),
            trigger,
            run_id,
            ledger_entries: report.ledger_entries,
            trades: report.trades,
            gaps: report.gaps.len() as u64,
            trade_problems: report.trade_problems.len() as u64,
            balance_check: balance_check.to_owned(),
            consistent: report.consistent,
            report_json,
        },
    )?;
    Ok(())
}

/// The most recent recorded verification of `account` and its report.
pub fn latest(
    store: &Store,
    account: &str,
) -> Result<Option<(VerifyRecord, VerifyReport)>, VerifyError> {
    let Some(rec) = store.latest_verify(account)? else {
        return Ok(None);
    };
    let report: VerifyReport =
        serde_json::from_str(&rec.report_json).map_err(VerifyError::Report)?;
    Ok(Some((rec, report)))
}

/// Gaps of the latest recorded verification that may touch calendar `year`; `None` when the
/// account was never verified (then nothing is known, which is not the same as no gap).
pub fn gaps_in_year(
    store: &Store,
    account: &str,
    year: i32,
) -> Result<Option<Vec<Gap>>, VerifyError> {
    Ok(latest(store, account)?.map(|(_, r)| r.gaps_in_year(year).into_iter().cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RawRecord;
    use crate::emulator::{GeneratorConfig, generate};
    use crate::store::Source;

    #[test]
    fn a_generated_account_checks_clean_and_a_removal_is_found_and_recorded() {
        let data = generate(&GeneratorConfig::new(21, 1500));
        let mut store = Store::open_in_memory().unwrap();
        let mut rows: Vec<RawRecord<_>> = data
            .ledger
            .iter()
            .map(|e| RawRecord {
                item: e.clone(),
                raw: "{}".into(),
            })
            .collect();
        store
            .insert_ledger_entries("a", &rows, Source::Api)
            .unwrap();
        let r = check_account(&store, "a").unwrap();
        assert!(r.consistent, "{}", r.render_text());
        assert_eq!(r.ledger_entries as usize, data.ledger.len());
        assert_eq!(r.trades, 0);

        // Remove a middle entry (in another account, same data).
        let gone = rows.remove(700).item;
        store
            .insert_ledger_entries("b", &rows, Source::Api)
            .unwrap();
        let r = check_account(&store, "b").unwrap();
        assert_eq!(r.gaps.len(), 1, "{}", r.render_text());
        assert_eq!(r.gaps[0].asset, gone.asset.as_str());
        assert_eq!(r.gaps[0].missing, gone.amount - gone.fee);
        assert!(!r.consistent);
        record(&store, &r, VerifyTrigger::Command, None).unwrap();
        let (rec, back) = latest(&store, "b").unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!((rec.gaps, rec.consistent), (1, false));
        let year = chrono::Datelike::year(&r.gaps[0].next_time);
        assert_eq!(gaps_in_year(&store, "b", year).unwrap().unwrap().len(), 1);
        assert_eq!(gaps_in_year(&store, "b", 1990).unwrap().unwrap().len(), 0);
        assert_eq!(gaps_in_year(&store, "a", year).unwrap(), None);
    }
}
