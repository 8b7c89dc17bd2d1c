-- The owning dataset as a column of its own, and in the primary key's index leaves with
-- `types` (issue #13, docs/architecture.md "Query plans").
--
-- Access control reads an entity's dataset from its `refDataset` stamp
-- (hub/service/catalogue.py `dataset_sql`), and a query names types; both lived only in
-- the row, so an exact count (`count=true`) of a dense match visited the heap of every
-- match: ~4 buffers an entity, 80,000 at 10 % of 200,000 entities, for a number it then
-- threw away. With `dataset` a generated column (computed from the same expression when
-- the row is written, so no write path can forget it) and the primary key covering
-- (types, dataset), the count is an index-only scan of the key joined to the value
-- index's candidates where the visibility map is set: at 200,000 entities 10 % ~290 ->
-- 65-79 ms, 90 % 0.7-1.3 s -> ~0.3 s (the whole key, ~27 MB, instead of the ~650 MB heap). The key index replaces the plain one,
-- so a write adds no index entry; an update keeps its page (HOT) unless it changes the
-- entity's types or dataset, which writes rarely do.
-- The expression is hub/service/catalogue.py `entity_dataset` in SQL: the first instance's
-- `object` when it is a string naming a dataset (`urn:ngsi-ld:Dataset:<id>`), else NULL
-- (the catch-all's entities and unowned ones; `dataset_sql` adds the catch-all).
ALTER TABLE {schema}.entities ADD COLUMN IF NOT EXISTS dataset text GENERATED ALWAYS AS (
    CASE WHEN jsonb_typeof(attrs -> 'https://uri.etsi.org/ngsi-ld/default-context/refDataset'
                           -> 0 -> 'object') = 'string'
          AND starts_with(attrs -> 'https://uri.etsi.org/ngsi-ld/default-context/refDataset'
                          -> 0 ->> 'object', 'urn:ngsi-ld:Dataset:')
         THEN substr(attrs -> 'https://uri.etsi.org/ngsi-ld/default-context/refDataset'
                     -> 0 ->> 'object', 21) END) STORED;
CREATE UNIQUE INDEX IF NOT EXISTS entities_pk_cover ON {schema}.entities (pk)
    INCLUDE (types, dataset);
ALTER TABLE {schema}.entities DROP CONSTRAINT IF EXISTS entities_pkey,
    ADD CONSTRAINT entities_pkey PRIMARY KEY USING INDEX entities_pk_cover;
