-- Each value row carries its entity's dataset (docs/architecture.md, "Query plans"), and
-- the three value indexes hold it as an included column. A caller who may read a few of
-- the tenant's datasets (a firm's grants) then reads candidate sets of its own datasets
-- only, index-only: the value index knew no datasets, so a firm's page or count read
-- every match of the tenant and looked up or joined the keys of each to drop the hidden
-- ones (hub/store/entities.py `count_entities`; a 1 % count at 1,000,000 entities joined
-- 10,000 candidates with the firm's 100,000 keys, 61 ms). Kept by the one write statement
-- (`_write_sql`, `ins_v`): an entity whose dataset changes has its value rows rebuilt.
ALTER TABLE {schema}.entity_values ADD COLUMN IF NOT EXISTS dataset text;
UPDATE {schema}.entity_values v SET dataset = e.dataset
FROM {schema}.entities e WHERE e.pk = v.eid AND e.dataset IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_values_num_eid;
CREATE INDEX entity_values_num_eid ON {schema}.entity_values (attr, num, eid)
    INCLUDE (dataset) WHERE num IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_values_txt_eid;
CREATE INDEX entity_values_txt_eid ON {schema}.entity_values (attr, txt COLLATE "C", eid)
    INCLUDE (dataset) WHERE txt IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_values_marker;
CREATE INDEX entity_values_marker ON {schema}.entity_values (attr, eid)
    INCLUDE (dataset) WHERE num IS NULL AND txt IS NULL;
