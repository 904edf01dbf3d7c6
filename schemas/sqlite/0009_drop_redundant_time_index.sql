-- ledger_entries_by_time (account, time_us) is a prefix of ledger_entries_scan (0008), which
-- serves the same range queries; keeping both only slows every insert (imports above all).
DROP INDEX IF EXISTS ledger_entries_by_time;
