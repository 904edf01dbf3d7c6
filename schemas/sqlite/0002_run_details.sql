-- What `status` shows about a run beyond its outcome: time spent waiting for Kraken's rate
-- counter, and the failures that were retried.
ALTER TABLE sync_runs ADD COLUMN waited_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN retries TEXT;
