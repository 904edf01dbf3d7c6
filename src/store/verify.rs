//! Reading the history for verification in one ordered pass, and the recorded results.

use super::raw::{LEDGER_COLUMNS, TRADE_COLUMNS, ledger_from_row, trade_from_row};
use super::{Store, StoreError, now_text};
use crate::domain::{LedgerEntry, Trade};
use rusqlite::OptionalExtension;

/// What started a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyTrigger {
    /// The cheap checks at the end of a successful sync.
    Sync,
    /// `kraken-tax verify`.
    Command,
}

impl VerifyTrigger {
    fn as_str(self) -> &'static str {
        match self {
            VerifyTrigger::Sync => "sync",
            VerifyTrigger::Command => "verify",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "sync" {
            VerifyTrigger::Sync
        } else {
            VerifyTrigger::Command
        }
    }

    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            VerifyTrigger::Sync => "after sync",
            VerifyTrigger::Command => "by `kraken-tax verify`",
        }
    }
}

/// One row of `verify_results`: the counts, and the whole report as JSON (the store does not
/// know the report's shape; `verify/` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRecord {
    /// When the check ran (RFC 3339; set by the store on insert).
    pub checked_at: String,
    /// What started it.
    pub trigger: VerifyTrigger,
    /// The sync run it followed, if any.
    pub run_id: Option<i64>,
    /// Ledger entries checked.
    pub ledger_entries: u64,
    /// Trades checked.
    pub trades: u64,
    /// Probable gaps found.
    pub gaps: u64,
    /// Trades with missing or mismatched legs.
    pub trade_problems: u64,
    /// `not_run`, `skipped`, `matched` or `mismatch`.
    pub balance_check: String,
    /// No finding at all.
    pub consistent: bool,
    /// The full report, JSON.
    pub report_json: String,
}

/// The ordered ledger walk; migration 0008's index covers it (a test checks the plan).
fn ledger_scan_sql() -> String {
    format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE account = ?1 ORDER BY time_us, ledger_id"
    )
}

impl Store {
    /// Calls `f` with every ledger entry of `account`, oldest first by (time, id), reading one
    /// row at a time; returns how many there were.
    pub fn scan_ledger_entries(
        &self,
        account: &str,
        mut f: impl FnMut(LedgerEntry),
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare(&ledger_scan_sql())?;
        let mut rows = stmt.query([account])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            f(ledger_from_row(row)??);
            n += 1;
        }
        Ok(n)
    }

    /// Calls `f` with every trade of `account`, one at a time, in storage (trade id) order:
    /// reading in time order would cost a random page read per trade.
    pub fn scan_trades(&self, account: &str, mut f: impl FnMut(&Trade)) -> Result<u64, StoreError> {
        let sql = format!("SELECT {TRADE_COLUMNS} FROM trades WHERE account = ?1");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([account])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let t = trade_from_row(row)??;
            f(&t);
            n += 1;
        }
        Ok(n)
    }

    /// Records a verification of `account`; `rec.checked_at` is ignored (now is used).
    /// Returns the row id.
    pub fn record_verify(&self, account: &str, rec: &VerifyRecord) -> Result<i64, StoreError> {
        self.ensure_account(account)?;
        self.conn.execute(
            "INSERT INTO verify_results (account, checked_at, trigger, run_id, ledger_entries,
                 trades, gaps, trade_problems, balance_check, consistent, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                account,
                now_text(),
                rec.trigger.as_str(),
                rec.run_id,
                rec.ledger_entries as i64,
                rec.trades as i64,
                rec.gaps as i64,
                rec.trade_problems as i64,
                rec.balance_check,
                rec.consistent,
                rec.report_json,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The most recent verification of `account`, if any.
    pub fn latest_verify(&self, account: &str) -> Result<Option<VerifyRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT checked_at, trigger, run_id, ledger_entries, trades, gaps, trade_problems,
                        balance_check, consistent, report
                 FROM verify_results WHERE account = ?1 ORDER BY verify_id DESC LIMIT 1",
                [account],
                |r| {
                    Ok(VerifyRecord {
                        checked_at: r.get(0)?,
                        trigger: VerifyTrigger::parse(&r.get::<_, String>(1)?),
                        run_id: r.get(2)?,
                        ledger_entries: r.get::<_, i64>(3)? as u64,
                        trades: r.get::<_, i64>(4)? as u64,
                        gaps: r.get::<_, i64>(5)? as u64,
                        trade_problems: r.get::<_, i64>(6)? as u64,
                        balance_check: r.get(7)?,
                        consistent: r.get(8)?,
                        report_json: r.get(9)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordered_ledger_walk_reads_one_covering_index_without_sorting() {
        let store = Store::open_in_memory().unwrap();
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", ledger_scan_sql()))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(["a"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            plan,
            vec!["SEARCH ledger_entries USING COVERING INDEX ledger_entries_scan (account=?)"]
        );
    }

    #[test]
    fn records_round_trip_and_the_latest_wins() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.latest_verify("a").unwrap(), None);
        let run = store.begin_run("a").unwrap();
        let mut rec = VerifyRecord {
            checked_at: String::new(),
            trigger: VerifyTrigger::Sync,
            run_id: Some(run),
            ledger_entries: 10,
            trades: 3,
            gaps: 1,
            trade_problems: 0,
            balance_check: "not_run".into(),
            consistent: false,
            report_json: "{}".into(),
        };
        store.record_verify("a", &rec).unwrap();
        rec.trigger = VerifyTrigger::Command;
        rec.run_id = None;
        rec.gaps = 0;
        rec.consistent = true;
        store.record_verify("a", &rec).unwrap();
        let got = store.latest_verify("a").unwrap().unwrap();
        assert!(!got.checked_at.is_empty());
        assert_eq!(
            VerifyRecord {
                checked_at: String::new(),
                ..got
            },
            rec
        );
        assert_eq!(store.latest_verify("b").unwrap(), None);
    }
}
