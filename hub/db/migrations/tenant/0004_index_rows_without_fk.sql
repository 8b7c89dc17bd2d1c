-- The foreign keys from the index tables cost a trigger call per index row (~15 % of a
-- 1,000-entity upsert, measured with EXPLAIN ANALYZE); store.delete_entities removes index
-- rows itself, in the same statement as the entities, so nothing is left behind.
ALTER TABLE {schema}.entity_values DROP CONSTRAINT IF EXISTS entity_values_eid_fkey;
ALTER TABLE {schema}.entity_geo DROP CONSTRAINT IF EXISTS entity_geo_eid_fkey;
