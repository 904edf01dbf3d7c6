-- IF NOT EXISTS: this migration was appended while others were in flight; a database that
-- already has the table must not fail if the list position shifts.
-- Kraken's refusals of a key's nonces, per key fingerprint (never the key): `doctor` warns
-- when they recur, since that means another program uses the same key.
CREATE TABLE IF NOT EXISTS key_events (
    fingerprint TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    count       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS key_events_by_key ON key_events (fingerprint, kind, at);
