-- The outcome of each verification (the cheap checks at the end of every successful sync, and
-- `kraken-tax verify`): the counts for `status`, and the whole report as JSON so that later
-- commands (export) can tell which years have unresolved gaps without checking again.
CREATE TABLE verify_results (
    verify_id       INTEGER PRIMARY KEY,
    account         TEXT NOT NULL REFERENCES accounts(name),
    checked_at      TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('sync', 'verify')),
    run_id          INTEGER REFERENCES sync_runs(run_id),
    ledger_entries  INTEGER NOT NULL,
    trades          INTEGER NOT NULL,
    gaps            INTEGER NOT NULL,
    trade_problems  INTEGER NOT NULL,
    balance_check   TEXT NOT NULL CHECK (balance_check IN ('not_run', 'skipped', 'matched', 'mismatch')),
    consistent      INTEGER NOT NULL,
    report          TEXT NOT NULL
);
CREATE INDEX verify_results_by_account ON verify_results (account, verify_id);
