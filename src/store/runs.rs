//! A record of every sync run: when, how it ended, what it did.

use super::{Store, StoreError, now_text};
use rusqlite::OptionalExtension;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Still running, or killed without a chance to say so.
    Running,
    /// Complete.
    Ok,
    /// Stopped early with progress kept (temporary failure, time budget, signal).
    Interrupted,
    /// Failed (configuration or data error).
    Failed,
}

impl RunOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> RunOutcome {
        match s {
            "ok" => RunOutcome::Ok,
            "interrupted" => RunOutcome::Interrupted,
            "failed" => RunOutcome::Failed,
            _ => RunOutcome::Running,
        }
    }
}

/// One row of `sync_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When it ended, if it did.
    pub finished_at: Option<String>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The error or summary line.
    pub detail: Option<String>,
    /// API calls made.
    pub calls: u64,
    /// New ledger entries stored.
    pub new_ledger: u64,
    /// New trades stored.
    pub new_trades: u64,
    /// Time spent waiting for the rate counter, in milliseconds.
    pub waited_ms: u64,
    /// Failures retried, e.g. `HTTP 502 ×2, EService:Busy ×1`.
    pub retries: Option<String>,
}

/// What a finished run did, for [`Store::finish_run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// API calls made.
    pub calls: u64,
    /// New ledger entries stored.
    pub new_ledger: u64,
    /// New trades stored.
    pub new_trades: u64,
    /// Time spent waiting for the rate counter, in milliseconds.
    pub waited_ms: u64,
    /// Failures retried, as text.
    pub retries: Option<String>,
}

impl RunOutcome {
    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Running => "running, or killed before it could finish",
            RunOutcome::Ok => "complete",
            RunOutcome::Interrupted => "partial",
            RunOutcome::Failed => "failed",
        }
    }
}

impl Store {
    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, account: &str) -> Result<i64, StoreError> {
        self.ensure_account(account)?;
        self.conn.execute(
            "INSERT INTO sync_runs (account, started_at, outcome) VALUES (?1, ?2, 'running')",
            (account, now_text()),
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        run_id: i64,
        outcome: RunOutcome,
        detail: Option<&str>,
        totals: &RunTotals,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sync_runs SET finished_at = ?2, outcome = ?3, detail = ?4, calls = ?5,
                 new_ledger = ?6, new_trades = ?7, waited_ms = ?8, retries = ?9
             WHERE run_id = ?1",
            rusqlite::params![
                run_id,
                now_text(),
                outcome.as_str(),
                detail,
                totals.calls as i64,
                totals.new_ledger as i64,
                totals.new_trades as i64,
                totals.waited_ms as i64,
                totals.retries,
            ],
        )?;
        Ok(())
    }

    /// When the most recent complete (`ok`) run of `account` finished; `None` if none did.
    pub fn last_complete_sync(
        &self,
        account: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT finished_at FROM sync_runs WHERE account = ?1 AND outcome = 'ok'
                   AND finished_at IS NOT NULL ORDER BY run_id DESC LIMIT 1",
                [account],
                |r| r.get(0),
            )
            .optional()?;
        // A finished_at this program did not write counts as no complete sync: alerting is
        // the safe side.
        Ok(text.and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        }))
    }

    /// The most recent run of `account`.
    pub fn last_run(&self, account: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT started_at, finished_at, outcome, detail, calls, new_ledger, new_trades,
                        waited_ms, retries
                 FROM sync_runs WHERE account = ?1 ORDER BY run_id DESC LIMIT 1",
                [account],
                |r| {
                    Ok(RunRecord {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        outcome: RunOutcome::parse(&r.get::<_, String>(2)?),
                        detail: r.get(3)?,
                        calls: r.get::<_, i64>(4)? as u64,
                        new_ledger: r.get::<_, i64>(5)? as u64,
                        new_trades: r.get::<_, i64>(6)? as u64,
                        waited_ms: r.get::<_, i64>(7)? as u64,
                        retries: r.get(8)?,
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
    fn last_complete_sync_is_the_latest_ok_run_only() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.last_complete_sync("a").unwrap(), None);
        let first = store.begin_run("a").unwrap();
        store
            .finish_run(first, RunOutcome::Ok, None, &RunTotals::default())
            .unwrap();
        let ok_at = store.last_complete_sync("a").unwrap().expect("one ok run");
        let second = store.begin_run("a").unwrap();
        store
            .finish_run(second, RunOutcome::Interrupted, None, &RunTotals::default())
            .unwrap();
        store.begin_run("a").unwrap();
        // Neither the partial run nor the running one counts; another account neither.
        assert_eq!(store.last_complete_sync("a").unwrap(), Some(ok_at));
        assert_eq!(store.last_complete_sync("b").unwrap(), None);
        let finished: String = store
            .conn
            .query_row(
                "SELECT finished_at FROM sync_runs WHERE run_id = ?1",
                [first],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            ok_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            finished
        );
    }
}
