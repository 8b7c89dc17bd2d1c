-- The entities in creation order (docs/architecture.md, "Query plans"): orderBy=createdAt
-- (or createdAt;desc, whose ties hub/query/orderby.py `tie_break` puts in descending pk
-- order) reads this index forwards or backwards and stops with the page, where it sorted
-- every match (200,000 entities, a 10 % q: 262-268 ms p95). created_at never changes
-- after the insert, so an update still writes a heap-only tuple (migration 0062); each
-- insert adds one entry. modifiedAt has no such index: every update would change its key
-- and so end the heap-only updates of every entity write (docs/performance.md).
CREATE INDEX IF NOT EXISTS entities_created ON {schema}.entities (created_at, pk);
