-- The visible entities of a caller who may read some datasets of a tenant, index-only
-- (docs/architecture.md, "Query plans"). A firm's exact count (`count=true`) looked up
-- the primary key of every candidate to read its dataset: at 200,000 entities in ten
-- datasets, a term matching 10 % (20,000 candidates) read 60,000 buffers to keep the
-- 2,000 of the firm's dataset. With the keys ordered by dataset, PostgreSQL reads the
-- firm's 20,000 keys (~370 pages, with `types` for the type condition) and joins them
-- with the candidates by hash (hub/store/entities.py `count_entities`). The entry costs
-- each new entity one index tuple; an update keeps its page (HOT) unless it changes the
-- entity's types or dataset, as with the primary key's index, which carries both.
CREATE INDEX IF NOT EXISTS entities_dataset ON {schema}.entities (dataset, pk) INCLUDE (types);
