-- Derived from the raw ledger (rebuildable at any time): each leg's event, normalized asset
-- and CARF classification. Rebuilt when the classifier version, the user's rules, or the raw
-- rows change.
CREATE TABLE derived_state (
    account             TEXT PRIMARY KEY REFERENCES accounts(name),
    classifier_version  INTEGER NOT NULL,
    rules_hash          TEXT NOT NULL,
    raw_rows            INTEGER NOT NULL,
    built_at            TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE legs (
    account         TEXT NOT NULL REFERENCES accounts(name),
    ledger_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    time_us         INTEGER NOT NULL,
    asset           TEXT NOT NULL,          -- normalized (BTC, DOT, EUR)
    asset_known     INTEGER NOT NULL,       -- 0: code passed through unrecognised
    is_fiat         INTEGER NOT NULL,
    element         TEXT NOT NULL,
    type_code       TEXT,
    transfer_wallet INTEGER NOT NULL,       -- also reported as TransferWallet
    note            TEXT NOT NULL,
    counter_asset   TEXT,                   -- what an exchange leg was exchanged against
    counter_amount  TEXT,                   -- that side's net signed amount
    PRIMARY KEY (account, ledger_id),
    FOREIGN KEY (account, ledger_id) REFERENCES ledger_entries(account, ledger_id)
) WITHOUT ROWID;
CREATE INDEX legs_by_time ON legs (account, time_us);
