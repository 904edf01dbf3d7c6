-- The derived legs become what reports read instead of classifying raw rows (issue 13):
--
-- * keyed by (account, time_us, ledger_id), so that a year is one range of the table, read in
--   step with the same range of the raw rows' covering index (no lookup per leg), and a full
--   refresh, inserting in that order, appends;
-- * no foreign key to ledger_entries (checking it cost more than storing the leg: raw rows
--   are never deleted, and the table is rebuilt from them at will) and no time index (the key
--   is the time order);
-- * per reportable exchange leg the sides of its event, and the KFEE fee credits a leg paid,
--   which is what its valuation reads;
-- * derived_state records the largest raw rowid a build saw, so that a refresh after new raw
--   rows derives only the events they touch.
--
-- The old table is dropped and every account rebuilt at its next refresh.

DROP TABLE legs;
DELETE FROM derived_state;
ALTER TABLE derived_state ADD COLUMN max_rowid INTEGER NOT NULL DEFAULT 0;

CREATE TABLE legs (
    account         TEXT NOT NULL REFERENCES accounts(name),
    time_us         INTEGER NOT NULL,
    ledger_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    asset           TEXT NOT NULL,          -- normalized (BTC, DOT, EUR)
    asset_known     INTEGER NOT NULL,       -- 0: code passed through unrecognised
    is_fiat         INTEGER NOT NULL,
    element         TEXT NOT NULL,
    type_code       TEXT,
    transfer_wallet INTEGER NOT NULL,       -- also reported as TransferWallet
    note            TEXT NOT NULL,
    counter_asset   TEXT,                   -- what an exchange leg was exchanged against
    counter_amount  TEXT,                   -- that side's net signed amount
    sides           TEXT,                   -- reportable exchange legs: all sides of the event
    fee_credits     TEXT,                   -- KFEE credits that paid this leg's fee
    PRIMARY KEY (account, time_us, ledger_id)
) WITHOUT ROWID;
