-- The registry (docs/registry.md): organisations, datasets with their membership rules,
-- adapter registrations and their runs. Global, like the organisations they describe: a
-- dataset's rule applies in every tenant.
CREATE SCHEMA IF NOT EXISTS registry;

CREATE TABLE IF NOT EXISTS registry.organisations (
    id          text PRIMARY KEY,          -- 全国地方公共団体コード (6) or 法人番号 (13)
    kind        text NOT NULL CHECK (kind IN ('prefecture', 'municipality', 'private')),
    name        jsonb NOT NULL,            -- {"ja": …, "en": …}
    contact     text,
    url         text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS registry.datasets (
    id               text PRIMARY KEY,
    owner            text NOT NULL REFERENCES registry.organisations (id),
    name             jsonb NOT NULL,
    description      jsonb,
    entity_types     text[] NOT NULL DEFAULT '{}',   -- expanded type IRIs; empty = any
    id_prefixes      text[] NOT NULL DEFAULT '{}',   -- empty = any id
    catch_all        boolean NOT NULL DEFAULT false,
    contracts        text[] NOT NULL DEFAULT '{}',
    licence          text NOT NULL,
    open_data        boolean NOT NULL DEFAULT false,
    personal_data    boolean NOT NULL DEFAULT false,
    update_frequency text NOT NULL,
    contact          text,
    source           text,
    keywords         text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    modified_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT (open_data AND personal_data))
);
CREATE INDEX IF NOT EXISTS datasets_owner ON registry.datasets (owner);

CREATE TABLE IF NOT EXISTS registry.adapters (
    id          text PRIMARY KEY,
    dataset     text NOT NULL REFERENCES registry.datasets (id),
    adapter     text NOT NULL,              -- the adapter's manifest id
    config      jsonb NOT NULL DEFAULT '{}',
    schedule    text,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS adapters_dataset ON registry.adapters (dataset);

CREATE TABLE IF NOT EXISTS registry.adapter_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    adapter_id  text NOT NULL REFERENCES registry.adapters (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text NOT NULL,
    counts      jsonb NOT NULL DEFAULT '{}',
    errors      jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS adapter_runs_latest ON registry.adapter_runs (adapter_id, started_at DESC);

-- Every hub process caches the dataset rules. Any change to datasets bumps the version and
-- notifies channel renkei_registry in the same transaction, so every process (and the CLI's
-- changes) invalidate their cache on commit; the version tells a process whose listener
-- was down whether its cache is stale.
CREATE TABLE IF NOT EXISTS registry.state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO registry.state (version) VALUES (1) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION registry.bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    UPDATE registry.state SET version = version + 1 RETURNING version INTO v;
    PERFORM pg_notify('renkei_registry', v::text);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS datasets_changed ON registry.datasets;
CREATE TRIGGER datasets_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON registry.datasets FOR EACH STATEMENT EXECUTE FUNCTION registry.bump_version();
