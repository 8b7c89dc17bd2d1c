-- The jsonb_path_ops GIN index on attrs cost more on every write than it saved on reads:
-- q comparisons on top-level attributes are served by entity_values (btree), and the
-- planner sometimes preferred a lossy GIN bitmap scan for range jsonpaths.
DROP INDEX IF EXISTS {schema}.entities_attrs;
