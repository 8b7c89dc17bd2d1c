-- History for time series (issue #16, docs/architecture.md "History"): temporal_instances
-- becomes a table partitioned by month of observedAt. Expiry drops whole partitions, never
-- deletes rows one by one; instances without observedAt (posted through the temporal API)
-- live in the default partition, which is never dropped. Range partitioning needs no
-- extension, so the embedded PostgreSQL runs it.
--
-- No foreign key to temporal_entities: its per-row check (a trigger locking the parent
-- row FOR KEY SHARE) was the largest single cost of recording history on every write;
-- the one statement that inserts instances also creates their temporal entity, and
-- hub/store/temporal.py delete_entity deletes the instances with it.
--
-- PostgreSQL 15 has no identity columns on partitioned tables and no unique index that
-- does not include the partition key: pk comes from a sequence (order of arrival, the
-- tie-break of equal observedAt), instanceId is a random UUID URN, unique by construction.
CREATE SEQUENCE IF NOT EXISTS {schema}.temporal_instance_pk;
CREATE TABLE {schema}.temporal_instances_new (
    pk          bigint NOT NULL DEFAULT nextval('{schema}.temporal_instance_pk'),
    entity_id   text NOT NULL,
    attr        text NOT NULL,
    instance_id text NOT NULL,
    dataset_id  text,
    observed_at timestamptz,
    data        jsonb NOT NULL
) PARTITION BY RANGE (observed_at);
CREATE TABLE {schema}.temporal_instances_default
    PARTITION OF {schema}.temporal_instances_new DEFAULT;
-- one partition per month holding existing rows, and the months around now (the
-- housekeeping loop keeps creating them ahead: hub/store/temporal.py ensure_partitions)
DO $$
DECLARE m date;
BEGIN
  FOR m IN
    SELECT DISTINCT date_trunc('month', observed_at AT TIME ZONE 'UTC')::date
      FROM {schema}.temporal_instances WHERE observed_at IS NOT NULL
    UNION
    SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => k))::date
      FROM generate_series(-1, 3) AS k
  LOOP
    EXECUTE format(
      'CREATE TABLE %s.%I PARTITION OF %s.temporal_instances_new'
      ' FOR VALUES FROM (%L) TO (%L)',
      '{schema}', 'temporal_instances_' || to_char(m, 'YYYYMM'), '{schema}',
      (m::timestamp AT TIME ZONE 'UTC'),
      ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
  END LOOP;
END $$;
INSERT INTO {schema}.temporal_instances_new
    (pk, entity_id, attr, instance_id, dataset_id, observed_at, data)
SELECT pk, entity_id, attr, instance_id, dataset_id, observed_at, data
  FROM {schema}.temporal_instances;
SELECT setval('{schema}.temporal_instance_pk',
              coalesce((SELECT max(pk) FROM {schema}.temporal_instances), 0) + 1, false);
DROP TABLE {schema}.temporal_instances;
ALTER TABLE {schema}.temporal_instances_new RENAME TO temporal_instances;
ALTER SEQUENCE {schema}.temporal_instance_pk OWNED BY {schema}.temporal_instances.pk;
-- one entity's attribute over time: lastN, windows, per-station aggregation
CREATE INDEX temporal_instances_entity_attr_time
    ON {schema}.temporal_instances (entity_id, attr, observed_at);
-- many entities over a time range (a basin's rain over 24 h): rows arrive in time order,
-- so a BRIN summary is a few pages per partition and costs the write almost nothing
CREATE INDEX temporal_instances_time_brin
    ON {schema}.temporal_instances USING brin (observed_at);
