-- The owning dataset of a temporal entity, decided by the registry when it is written, so
-- access control can filter temporal queries in SQL (the temporal representation keeps
-- instances, not the refDataset stamp). NULL for rows written before: the catch-all, if any.
ALTER TABLE {schema}.temporal_entities ADD COLUMN IF NOT EXISTS dataset text;
