-- Room on each entity page for the next version of its rows (docs/architecture.md,
-- "Stored form"): a replace or an attribute update changes `attrs`, which no index
-- covers, so with free space on the page PostgreSQL writes a heap-only tuple (HOT) and
-- adds no entry to the primary key, the id index or the two GIN indexes; full pages
-- (the default fillfactor 100) made every update a new entry in all four. Measured on
-- 1,000-entity replace batches: 91 % of updates HOT, database CPU 0.098 -> 0.080 s per
-- 1,000 entities (docs/performance.md). Pages written from now on keep 25 % free;
-- existing pages are not rewritten (no lock beyond the ALTER itself).
ALTER TABLE {schema}.entities SET (fillfactor = 75);
