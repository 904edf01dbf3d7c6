-- Market data caches for valuation: Kraken's public asset and pair lists, and prices.
-- Prices come from Kraken's public Trades (source 'kraken') or from OHLCVT files the user
-- imported (source 'import:<file name>'). Money is decimal TEXT, never REAL.

CREATE TABLE market_assets (
    code        TEXT PRIMARY KEY,           -- Kraken's code (XXBT, ZEUR, DOT)
    altname     TEXT NOT NULL,              -- XBT, EUR, DOT
    decimals    INTEGER,
    status      TEXT,
    fetched_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE market_pairs (
    pair        TEXT PRIMARY KEY,           -- Kraken's pair name (XXBTZEUR)
    altname     TEXT NOT NULL,              -- XBTEUR
    wsname      TEXT,                       -- XBT/EUR
    base        TEXT NOT NULL,              -- Kraken's asset code (XXBT)
    quote       TEXT NOT NULL,              -- ZEUR
    fetched_at  TEXT NOT NULL
) WITHOUT ROWID;

-- One price per (source, pair, minute): the last trade of that minute (Kraken), or a
-- candle's close (imports). price_time_us is the exact time of the price used.
CREATE TABLE prices (
    source          TEXT NOT NULL,
    pair            TEXT NOT NULL,          -- Kraken's pair name, or the file's pair for imports
    base            TEXT NOT NULL,          -- reported codes (BTC, EUR)
    quote           TEXT NOT NULL,
    bucket          INTEGER NOT NULL,       -- minutes since the epoch of price_time_us
    price           TEXT NOT NULL,
    price_time_us   INTEGER NOT NULL,
    price_time_text TEXT NOT NULL,          -- Kraken's time text, or the candle's
    PRIMARY KEY (source, pair, bucket)
) WITHOUT ROWID;

-- Time ranges of Kraken's public trades already fetched per pair, so that a price is
-- never fetched twice.
CREATE TABLE price_coverage (
    pair        TEXT NOT NULL,
    from_us     INTEGER NOT NULL,
    to_us       INTEGER NOT NULL,
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (pair, from_us)
) WITHOUT ROWID;
