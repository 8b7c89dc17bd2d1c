-- Temporal representation of entities (GS CIM 009 5.6.11-5.6.16): attribute instances over
-- time, kept apart from the current-state table so history never slows current queries.
CREATE TABLE IF NOT EXISTS {schema}.temporal_entities (
    id          text PRIMARY KEY,
    types       text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.temporal_instances (
    pk          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id   text NOT NULL REFERENCES {schema}.temporal_entities (id) ON DELETE CASCADE,
    attr        text NOT NULL,
    instance_id text NOT NULL UNIQUE,
    dataset_id  text,
    observed_at timestamptz,
    data        jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS temporal_instances_entity
    ON {schema}.temporal_instances (entity_id, attr, observed_at);
