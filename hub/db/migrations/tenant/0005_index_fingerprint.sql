-- A fingerprint of an entity's index rows (entity_values and entity_geo), written with
-- them by store.entities.write_entities: a replace whose rows did not change (re-sent
-- observations mostly repeat their values) leaves them alone instead of deleting and
-- inserting them again. NULL (rows written before this migration) means "unknown": the
-- next write rebuilds them. Adding a nullable column rewrites nothing.
ALTER TABLE {schema}.entities ADD COLUMN IF NOT EXISTS index_fp bytea;
