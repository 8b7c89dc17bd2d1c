-- Each geo row carries its entity's dataset, as the value rows do since 0104, and the
-- GiST index holds it as an included column. A firm's geo-query then reads the
-- candidates of its own datasets only (hub/store/entities.py `Filter.bind_datasets`):
-- the index knew no datasets, so a firm granted one of ten datasets read every entity
-- of the tenant in the box and looked up the key of each to drop the hidden ones (a box
-- holding 1 % of 200,000 entities: 1,134 buffers a page against 166 in development
-- mode). Kept by the one write statement (`_write_sql`, `ins_g`); the geo half of an
-- entity's index fingerprint covers its dataset, so a changed stamp rebuilds the rows.
ALTER TABLE {schema}.entity_geo ADD COLUMN IF NOT EXISTS dataset text;
UPDATE {schema}.entity_geo g SET dataset = e.dataset
FROM {schema}.entities e WHERE e.pk = g.eid AND e.dataset IS NOT NULL;
DROP INDEX IF EXISTS {schema}.entity_geo_bbox_attr_eid;
CREATE INDEX entity_geo_bbox_attr_eid ON {schema}.entity_geo
    USING gist (bbox) INCLUDE (attr, eid, dataset);
