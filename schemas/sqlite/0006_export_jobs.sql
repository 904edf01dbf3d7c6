-- Bulk exports requested from Kraken (AddExport) and not yet imported: a sync that stops
-- while Kraken prepares the report picks the same export up on its next run.
CREATE TABLE export_jobs (
    account      TEXT NOT NULL REFERENCES accounts(name),
    report       TEXT NOT NULL CHECK (report IN ('ledgers', 'trades')),
    export_id    TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    endtm        INTEGER NOT NULL,           -- Unix seconds the export runs up to
    PRIMARY KEY (account, report)
) WITHOUT ROWID;
