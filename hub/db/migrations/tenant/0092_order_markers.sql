-- Marker rows for a descending orderBy walk (docs/architecture.md, "Query plans"). jsonb
-- sorts booleans, arrays and objects above every number, so the walk along num runs
-- backwards only for an attribute none of whose values is one: an attribute with such a
-- value has a row (attr, NULL, NULL) in entity_values (hub/query/values.py
-- `sorts_above_numbers`), or, for a GeoProperty's geometry, its row in entity_geo. Each
-- index below answers "does attr have any" in one probe; markers are rare, and a geo
-- row's attr repeats (btree deduplication keeps that index small).
CREATE INDEX IF NOT EXISTS entity_values_marker ON {schema}.entity_values (attr, eid)
    WHERE num IS NULL AND txt IS NULL;
CREATE INDEX IF NOT EXISTS entity_geo_attr ON {schema}.entity_geo (attr);
-- The markers of entities written before, by the same rule as values.py, for every
-- attribute but the two NOT_INDEXED ones (which get no rows at all); a geometry counts as
-- marked when the attribute has a geo row (a GeoProperty without a bounding box gets none,
-- so its object value is marked). Those entities' index fingerprints are reset, so their
-- next write rebuilds the rows from values.py itself. Running it again adds nothing.
WITH marked AS (
    SELECT e.pk, a.key AS attr
    FROM {schema}.entities e, jsonb_each(e.attrs) AS a(key, instances)
    WHERE a.key NOT IN ('https://uri.etsi.org/ngsi-ld/default-context/dataProvider',
                        'https://uri.etsi.org/ngsi-ld/default-context/source')
      AND EXISTS (
        SELECT FROM jsonb_array_elements(CASE jsonb_typeof(a.instances) WHEN 'array'
                                         THEN a.instances ELSE jsonb_build_array(a.instances)
                                         END) AS i(instance)
        WHERE jsonb_typeof(i.instance -> 'value') IN ('boolean', 'array', 'object')
          AND NOT (i.instance ->> 'type' IS NOT DISTINCT FROM 'GeoProperty' AND EXISTS (
            SELECT FROM {schema}.entity_geo g WHERE g.eid = e.pk AND g.attr = a.key)))
      AND NOT EXISTS (
        SELECT FROM {schema}.entity_values v
        WHERE v.attr = a.key AND v.eid = e.pk AND v.num IS NULL AND v.txt IS NULL)
), added AS (
    INSERT INTO {schema}.entity_values (eid, attr, num, txt)
    SELECT pk, attr, NULL, NULL FROM marked
    RETURNING eid
)
UPDATE {schema}.entities e SET index_fp = NULL
WHERE e.pk IN (SELECT eid FROM added);
