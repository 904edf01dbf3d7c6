-- Verify (after every sync, and `kraken-tax verify`) reads a whole account's ledger in
-- (time_us, ledger_id) order. Through ledger_entries_by_time each row then costs a lookup by
-- primary key: a random page read, since rows are stored in ledger-id order. This index holds
-- every column such a reader needs (all but raw, source, first_seen and time_utc), so the walk
-- reads one index from start to end. Measured on 1,000,000 entries: about 5 s of CPU instead
-- of 12, for about 18% more file size.
CREATE INDEX ledger_entries_scan ON ledger_entries (
    account, time_us, ledger_id, refid, time_text, type, subtype, aclass, subclass, asset,
    wallet, amount, fee, balance
);
