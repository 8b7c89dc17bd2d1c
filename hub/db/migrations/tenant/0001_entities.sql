-- One schema per tenant; {schema} is replaced by its quoted name. See docs/architecture.md.
CREATE TABLE IF NOT EXISTS {schema}.entities (
    pk          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    types       text[] NOT NULL,
    scopes      text[],
    attrs       jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_types ON {schema}.entities USING gin (types);
CREATE INDEX IF NOT EXISTS entities_scopes ON {schema}.entities USING gin (scopes);
CREATE INDEX IF NOT EXISTS entities_attrs ON {schema}.entities USING gin (attrs jsonb_path_ops);

CREATE TABLE IF NOT EXISTS {schema}.entity_values (
    eid   bigint NOT NULL REFERENCES {schema}.entities (pk) ON DELETE CASCADE,
    attr  text NOT NULL,
    num   float8,
    txt   text
);
CREATE INDEX IF NOT EXISTS entity_values_eid ON {schema}.entity_values (eid);
CREATE INDEX IF NOT EXISTS entity_values_num ON {schema}.entity_values (attr, num)
    WHERE num IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_values_txt ON {schema}.entity_values (attr, txt)
    WHERE txt IS NOT NULL;

CREATE TABLE IF NOT EXISTS {schema}.entity_geo (
    eid   bigint NOT NULL REFERENCES {schema}.entities (pk) ON DELETE CASCADE,
    attr  text NOT NULL,
    bbox  box NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_geo_eid ON {schema}.entity_geo (eid);
CREATE INDEX IF NOT EXISTS entity_geo_bbox ON {schema}.entity_geo USING gist (bbox);
