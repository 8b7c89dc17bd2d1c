-- Each geo row carries its entity's dataset, as the value rows do since 0104, and says
-- whether its box is the geometry itself (`point`: a GeoJSON Point the exact tests read
-- by its coordinates, hub/query/geo.py `plain_point`); the GiST index holds both as
-- included columns.
-- - `dataset`: a firm's geo-query reads the candidates of its own datasets only
--   (hub/store/entities.py `Filter.bind_datasets`): the index knew no datasets, so a firm
--   granted one of ten datasets read every entity of the tenant in the box and looked up
--   the key of each to drop the hidden ones (a box holding 1 % of 200,000 entities:
--   1,134 buffers a page against 166 in development mode).
-- - `point`: a count (or an `orderBy`) of a geo-query tests every match; it read each
--   match's entity for its geometry (10 % of 200,000: 20,000 rows, 79,000 buffers). A
--   Point is tested from the index row (`store.entities.geo_rows`).
-- Kept by the one write statement (`_write_sql`, `ins_g`); the geo half of an entity's
-- index fingerprint covers both, so a changed stamp rebuilds the rows. Rows written
-- before are marked points only where every located instance of the attribute is a Point
-- of two or three plain numbers (stricter than `plain_point` is safe: such a row is
-- tested from its entity, as before).
ALTER TABLE {schema}.entity_geo ADD COLUMN IF NOT EXISTS dataset text;
ALTER TABLE {schema}.entity_geo ADD COLUMN IF NOT EXISTS point boolean NOT NULL DEFAULT false;
UPDATE {schema}.entity_geo g SET dataset = e.dataset,
    point = NOT EXISTS (
        SELECT FROM jsonb_array_elements(e.attrs -> g.attr) AS i(inst)
        WHERE i.inst ->> 'type' = 'GeoProperty' AND NOT coalesce(
            i.inst -> 'value' ->> 'type' = 'Point'
            AND jsonb_typeof(i.inst -> 'value' -> 'coordinates') = 'array'
            AND jsonb_array_length(i.inst -> 'value' -> 'coordinates') IN (2, 3)
            AND NOT EXISTS (
                SELECT FROM jsonb_array_elements(i.inst -> 'value' -> 'coordinates') AS c(n)
                WHERE CASE WHEN jsonb_typeof(c.n) = 'number' THEN abs(c.n::numeric) >= 1e300
                           ELSE true END), false))
FROM {schema}.entities e WHERE e.pk = g.eid AND jsonb_typeof(e.attrs -> g.attr) = 'array';
DROP INDEX IF EXISTS {schema}.entity_geo_bbox_attr_eid;
CREATE INDEX entity_geo_bbox_attr_eid ON {schema}.entity_geo
    USING gist (bbox) INCLUDE (attr, eid, dataset, point);
