-- Which attributes the entities of each (types, dataset) hold (docs/architecture.md,
-- "Query plans"): a superset, kept by the write statement (hub/store/entities.py
-- `_write_sql`, `ins_s`) and never shrunk, so a combination whose last entity went away
-- stays behind. A count may then prove, from the few rows of one attribute, that every
-- entity holding the attribute passes the query's type and access conditions (which read
-- only `types` and `dataset`), and count the value index's rows alone instead of looking
-- up each match's key (hub/store/entities.py `count_entities`). An extra row only ever
-- makes that proof fail, never a count wrong; a missing one would, which is why the one
-- statement that writes entities writes these rows too.
CREATE TABLE IF NOT EXISTS {schema}.entity_shapes (
    types   text[] NOT NULL,
    dataset text,
    attr    text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entity_shapes_key
    ON {schema}.entity_shapes (attr, dataset, types) NULLS NOT DISTINCT;
INSERT INTO {schema}.entity_shapes (types, dataset, attr)
SELECT DISTINCT e.types, e.dataset, k.attr
FROM {schema}.entities e CROSS JOIN LATERAL jsonb_object_keys(e.attrs) AS k(attr)
ON CONFLICT DO NOTHING;
