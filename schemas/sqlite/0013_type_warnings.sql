-- Warnings about ledger entries of a type this version does not know, kept so that `status`
-- shows them until they are resolved (a [classify] rule covers the type, or its entries are
-- no longer unclassified), whatever the log level of the run that stored them.
CREATE TABLE type_warnings (
    account     TEXT NOT NULL REFERENCES accounts(name),
    kind        TEXT NOT NULL,              -- Kraken's ledger `type`
    entries     INTEGER NOT NULL,           -- entries of this type stored with a warning
    example     TEXT NOT NULL,              -- the first such ledger id
    first_seen  TEXT NOT NULL,              -- RFC 3339 UTC
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (account, kind)
) WITHOUT ROWID;
