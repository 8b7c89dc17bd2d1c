-- Covering value and geo indexes (docs/architecture.md, "Query plans"): the candidate
-- sets of a query (store.entities._driven) are read index-only, and string comparisons
-- use the index in byte order (COLLATE "C", which the q compiler writes on every txt
-- condition; equality is the same in every deterministic collation). Same number of
-- index rows per write as before: each new index replaces one.
CREATE INDEX IF NOT EXISTS entity_values_num_eid ON {schema}.entity_values (attr, num, eid)
    WHERE num IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_values_num;
CREATE INDEX IF NOT EXISTS entity_values_txt_eid
    ON {schema}.entity_values (attr, txt COLLATE "C", eid) WHERE txt IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_values_txt;
CREATE INDEX IF NOT EXISTS entity_geo_bbox_attr_eid ON {schema}.entity_geo
    USING gist (bbox) INCLUDE (attr, eid);
DROP INDEX IF EXISTS {schema}.entity_geo_bbox;
