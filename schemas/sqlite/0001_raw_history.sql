-- Raw history, sync state and per-key client state.
-- Raw rows are immutable: the same id from another source is stored once; a conflicting
-- version goes to raw_conflicts. Money is decimal TEXT, never REAL.

CREATE TABLE accounts (
    name        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE ledger_entries (
    account     TEXT NOT NULL REFERENCES accounts(name),
    ledger_id   TEXT NOT NULL,
    refid       TEXT NOT NULL,
    time_text   TEXT NOT NULL,              -- Kraken's time exactly as sent
    time_us     INTEGER NOT NULL,           -- the same, microseconds since the epoch
    time_utc    TEXT NOT NULL,              -- the same, RFC 3339 UTC
    type        TEXT NOT NULL,
    subtype     TEXT,                       -- NULL when Kraken sent no subtype
    aclass      TEXT NOT NULL,
    subclass    TEXT,
    asset       TEXT NOT NULL,
    wallet      TEXT,
    amount      TEXT NOT NULL,
    fee         TEXT NOT NULL,
    balance     TEXT,                       -- NULL when Kraken left it blank
    raw         TEXT NOT NULL,              -- the original JSON object or CSV row
    source      TEXT NOT NULL CHECK (source IN ('api', 'csv', 'export')),
    first_seen  TEXT NOT NULL,
    PRIMARY KEY (account, ledger_id)
) WITHOUT ROWID;
CREATE INDEX ledger_entries_by_time ON ledger_entries (account, time_us);

CREATE TABLE trades (
    account     TEXT NOT NULL REFERENCES accounts(name),
    trade_id    TEXT NOT NULL,
    ordertxid   TEXT NOT NULL,
    postxid     TEXT,
    pair        TEXT NOT NULL,
    time_text   TEXT NOT NULL,
    time_us     INTEGER NOT NULL,
    time_utc    TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('buy', 'sell')),
    ordertype   TEXT NOT NULL,
    price       TEXT NOT NULL,
    cost        TEXT NOT NULL,
    fee         TEXT NOT NULL,
    vol         TEXT NOT NULL,
    margin      TEXT,
    leverage    TEXT,
    misc        TEXT NOT NULL,
    ledgers     TEXT NOT NULL,              -- comma-separated ledger ids
    kraken_trade_id INTEGER,                -- Kraken's numeric `trade_id`
    maker       INTEGER,
    posstatus   TEXT,
    cprice      TEXT,
    ccost       TEXT,
    cfee        TEXT,
    cvol        TEXT,
    cmargin     TEXT,
    net         TEXT,
    closing_trades TEXT NOT NULL,           -- comma-separated trade ids (`trades`)
    raw         TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('api', 'csv', 'export')),
    first_seen  TEXT NOT NULL,
    PRIMARY KEY (account, trade_id)
) WITHOUT ROWID;
CREATE INDEX trades_by_time ON trades (account, time_us);

-- A second version of an already stored id that differs from it: kept, reported, never merged.
CREATE TABLE raw_conflicts (
    conflict_id INTEGER PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts(name),
    stream      TEXT NOT NULL CHECK (stream IN ('ledgers', 'trades')),
    entry_id    TEXT NOT NULL,
    raw         TEXT NOT NULL,
    source      TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    UNIQUE (account, stream, entry_id, raw)
);

-- Written in the same transaction as each page it describes.
CREATE TABLE sync_state (
    account         TEXT NOT NULL REFERENCES accounts(name),
    stream          TEXT NOT NULL CHECK (stream IN ('ledgers', 'trades')),
    synced_to_id    TEXT,
    synced_to_us    INTEGER,
    window_hi_id    TEXT,
    window_hi_us    INTEGER,
    cursor_id       TEXT,
    cursor_us       INTEGER,
    cursor_ofs      INTEGER NOT NULL DEFAULT 0,
    window_expected INTEGER,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (account, stream)
) WITHOUT ROWID;

CREATE TABLE sync_runs (
    run_id      INTEGER PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts(name),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'interrupted', 'failed')),
    detail      TEXT,
    calls       INTEGER NOT NULL DEFAULT 0,
    new_ledger  INTEGER NOT NULL DEFAULT 0,
    new_trades  INTEGER NOT NULL DEFAULT 0
);

-- Per API key, identified by a fingerprint (a hash of the public key, never the key).
CREATE TABLE key_state (
    fingerprint TEXT PRIMARY KEY,
    last_nonce  INTEGER NOT NULL DEFAULT 0,
    counter     REAL,
    counter_at  TEXT,
    first_used  TEXT NOT NULL
) WITHOUT ROWID;
