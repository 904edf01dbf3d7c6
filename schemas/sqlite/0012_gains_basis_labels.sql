-- What the user says about deposits and withdrawals, for `gains` (and the export's labels):
-- costs of deposits from elsewhere (`kraken-tax basis import FILE`) and labels of ledger
-- entries (`kraken-tax label ID own-wallet|exchange|private-wallet`).
-- Numbered two above the highest migration when it was written (0010) to leave room for a
-- parallel branch's 0011: the order in `store/migrate.rs` is what counts.
CREATE TABLE basis_entries (
    account     TEXT NOT NULL,
    key         TEXT NOT NULL,               -- 'id:<ledger id or refid>' or 'at:<ASSET>@<micros>'
    ledger_ref  TEXT,                        -- ledger id or refid, when given
    asset       TEXT,                        -- reported asset code (BTC), with time_us
    time_us     INTEGER,                     -- the deposit's time, microseconds since the epoch
    units       TEXT NOT NULL,               -- decimal text
    cost        TEXT NOT NULL,               -- decimal text, total cost of the units
    currency    TEXT NOT NULL,               -- currency of the cost (EUR)
    acquired_us INTEGER NOT NULL,            -- when the units were acquired
    source_file TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (account, key),
    CHECK (ledger_ref IS NOT NULL OR (asset IS NOT NULL AND time_us IS NOT NULL))
) WITHOUT ROWID;

CREATE TABLE entry_labels (
    account     TEXT NOT NULL,
    ref         TEXT NOT NULL,               -- ledger id or refid
    label       TEXT NOT NULL CHECK (label IN ('own-wallet', 'exchange', 'private-wallet')),
    labelled_at TEXT NOT NULL,
    PRIMARY KEY (account, ref)
) WITHOUT ROWID;
