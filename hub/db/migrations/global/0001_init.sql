-- Global tables shared by all tenants: tenants and the JSON-LD @context store (5.13).
CREATE SCHEMA IF NOT EXISTS renkei;

CREATE TABLE IF NOT EXISTS renkei.tenants (
    name        text PRIMARY KEY,
    schema_name text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS renkei.contexts (
    id          text PRIMARY KEY,
    url         text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('Hosted', 'Cached', 'ImplicitlyCreated')),
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz,
    uses        bigint NOT NULL DEFAULT 0
);
