-- The adapter worker's schedule state (issue #15, adapters/worker.py, docs/adapters.md
-- "Running on a schedule"). next_run_at NULL means "never run: due now"; run_requested_at
-- is set by POST /registry/v1/adapters/{id}/run-now and cleared by the run that serves it;
-- failures counts consecutive failed runs (the back-off doubles with each).
ALTER TABLE registry.adapters ADD COLUMN IF NOT EXISTS next_run_at timestamptz;
ALTER TABLE registry.adapters ADD COLUMN IF NOT EXISTS run_requested_at timestamptz;
ALTER TABLE registry.adapters ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS adapters_due ON registry.adapters (next_run_at) WHERE enabled;
