-- How long each dataset's history (temporal instances) is kept, in days; NULL keeps it for
-- ever (issue #16). Expiry drops whole monthly partitions once past every dataset's
-- retention (hub/store/temporal.py expire_partitions, docs/architecture.md "History").
ALTER TABLE registry.datasets ADD COLUMN IF NOT EXISTS history_retention_days integer
    CHECK (history_retention_days > 0);
