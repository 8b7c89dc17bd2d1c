-- Fast paths of the temporal reads (issue #16, docs/architecture.md "History",
-- docs/performance.md "History").
--
-- The (entity, attribute, time) index gains pk, the tie-break of equal observedAt: lastN
-- reads the newest rows straight off it backwards, with no sort per (entity, attribute)
-- (an incremental sort for each pair was a quarter of lastN=1 over 1,000 stations). It is
-- dropped before the column below rewrites the table, and built once after it.
DROP INDEX IF EXISTS {schema}.temporal_instances_entity_attr_time;
-- num: an instance's value when it is a JSON number, as float8, computed once when the row
-- is written (a generated column: every write path fills it, with nothing to forget), so
-- sum/avg/min/max/stddev/sumsq read a column instead of parsing jsonb on every row of every
-- aggregation (it was most of the 100-station hourly sums). The expression is the one the
-- aggregates used (hub/store/temporal.py); a number float8 cannot hold (beyond 1e300 or a
-- non-zero below 1e-300 in magnitude: its cast fails) is NULL, so such a value is skipped
-- by the arithmetic aggregates instead of failing the write. Adding it to the partitioned
-- parent adds it to every partition and rewrites them, filling existing rows.
ALTER TABLE {schema}.temporal_instances ADD COLUMN IF NOT EXISTS num float8
    GENERATED ALWAYS AS (CASE
        WHEN jsonb_typeof(data -> 'value') IS DISTINCT FROM 'number' THEN NULL
        WHEN abs((data -> 'value')::numeric) BETWEEN 1e-300 AND 1e300
             OR (data -> 'value')::numeric = 0 THEN (data ->> 'value')::float8 END) STORED;
-- dataset_id and num ride along in the index leaves: an aggregate of numbers (sum, avg,
-- min, max, stddev, sumsq, totalCount) over a window reads the index alone where the
-- visibility map allows (pages autovacuum has seen; the newest ones still visit the heap),
-- ~13,300 -> ~4,400 buffers for 100 stations x 7 days of readings (docs/performance.md).
-- lastN reads the heap for the instance anyway. The price: ~57 bytes an instance in all.
CREATE INDEX IF NOT EXISTS temporal_instances_entity_attr_time_pk
    ON {schema}.temporal_instances (entity_id, attr, observed_at, pk) INCLUDE (dataset_id, num);
-- attrs: every attribute the temporal entity has (or had) instances of, a superset kept by
-- the statements that insert instances (hub/store/entities.py _HISTORY_SQL,
-- hub/store/temporal.py add_instances), so lastN reads its (entity, attribute) pairs from
-- one row instead of a loose index scan probing every monthly partition per attribute.
-- Deleting instances leaves the name: a pair without instances reads nothing.
ALTER TABLE {schema}.temporal_entities ADD COLUMN IF NOT EXISTS attrs text[] NOT NULL
    DEFAULT '{}';
UPDATE {schema}.temporal_entities t
   SET attrs = ARRAY(SELECT DISTINCT i.attr FROM {schema}.temporal_instances i
                     WHERE i.entity_id = t.id ORDER BY 1);
