-- Subscriptions (GS CIM 009 5.8) and the durable path from an entity change to a delivered
-- notification (docs/subscriptions.md):
--   entities --(statement triggers, same transaction)--> entity_changes
--   entity_changes --(matcher, one transaction)--> notifications --(delivery workers)--> receiver
-- A change is recorded only when some active, change-driven subscription could match its
-- types, so a hub with no subscriptions pays one cheap EXISTS per statement.

CREATE TABLE IF NOT EXISTS {schema}.subscriptions (
    id                text PRIMARY KEY,
    body              jsonb NOT NULL,   -- the internal form (hub/subscriptions/model.py)
    types             text[],           -- expanded type IRIs it can match; NULL = any type
    ids               text[],           -- entity ids it is limited to; NULL = any id
    active            boolean NOT NULL, -- isActive and not expired
    periodic          boolean NOT NULL, -- timeInterval subscriptions are not change-driven
    expires_at        timestamptz,
    next_run          timestamptz,      -- periodic: when the next notification is due
    times_sent        bigint NOT NULL DEFAULT 0,
    times_failed      bigint NOT NULL DEFAULT 0,
    last_notification timestamptz,
    last_success      timestamptz,
    last_failure      timestamptz,
    last_status       text,             -- 'ok' | 'failed'
    blocked_until     timestamptz,      -- receiver failing: hold its notifications until then
    created_at        timestamptz NOT NULL,
    modified_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_types ON {schema}.subscriptions USING gin (types)
    WHERE active AND NOT periodic;
CREATE INDEX IF NOT EXISTS subscriptions_ids ON {schema}.subscriptions USING gin (ids)
    WHERE active AND NOT periodic;
CREATE INDEX IF NOT EXISTS subscriptions_any_type ON {schema}.subscriptions (id)
    WHERE active AND NOT periodic AND types IS NULL;
CREATE INDEX IF NOT EXISTS subscriptions_next_run ON {schema}.subscriptions (next_run)
    WHERE active AND periodic;

CREATE TABLE IF NOT EXISTS {schema}.entity_changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id  text NOT NULL,
    op         "char" NOT NULL,      -- c(reated) u(pdated) d(eleted)
    old        jsonb,                -- the row before (u, d)
    new        jsonb,                -- the row after (c, u)
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS {schema}.notifications (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text NOT NULL UNIQUE,    -- the Notification id the receiver sees (stable)
    sub_id       text NOT NULL,
    payload      jsonb NOT NULL,          -- {"data": [...], "triggerReason": ...}
    created_at   timestamptz NOT NULL DEFAULT now(),
    due_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    leased_until timestamptz,
    dead         boolean NOT NULL DEFAULT false,
    last_error   text
);
CREATE INDEX IF NOT EXISTS notifications_due ON {schema}.notifications (due_at)
    WHERE NOT dead;
CREATE INDEX IF NOT EXISTS notifications_sub ON {schema}.notifications (sub_id, seq);

-- Could an active change-driven subscription match an entity with these types? (GIN index
-- on types; the one definition the trigger below uses for every kind of change)
CREATE OR REPLACE FUNCTION {schema}.could_notify(entity_types text[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM {schema}.subscriptions s
                   WHERE s.active AND NOT s.periodic AND s.types IS NULL)
        OR EXISTS (SELECT 1 FROM {schema}.subscriptions s
                   WHERE s.active AND NOT s.periodic AND s.types && entity_types)
$$;

-- One statement trigger function for inserts, updates and deletes; each trigger below
-- passes the transition tables its event has (new_rows, old_rows or both).
CREATE OR REPLACE FUNCTION {schema}.record_entity_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {schema}.subscriptions WHERE active AND NOT periodic) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {schema}.entity_changes (entity_id, op, new)
        SELECT n.id, 'c', to_jsonb(n) FROM new_rows n
        WHERE {schema}.could_notify(n.types);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO {schema}.entity_changes (entity_id, op, old, new)
        SELECT n.id, 'u', to_jsonb(o), to_jsonb(n)
        FROM new_rows n JOIN old_rows o ON o.pk = n.pk
        WHERE {schema}.could_notify(n.types || o.types);
    ELSE
        INSERT INTO {schema}.entity_changes (entity_id, op, old)
        SELECT o.id, 'd', to_jsonb(o) FROM old_rows o
        WHERE {schema}.could_notify(o.types);
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('renkei_changes', TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS entities_record_inserts ON {schema}.entities;
CREATE TRIGGER entities_record_inserts AFTER INSERT ON {schema}.entities
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.record_entity_changes();
DROP TRIGGER IF EXISTS entities_record_updates ON {schema}.entities;
CREATE TRIGGER entities_record_updates AFTER UPDATE ON {schema}.entities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.record_entity_changes();
DROP TRIGGER IF EXISTS entities_record_deletes ON {schema}.entities;
CREATE TRIGGER entities_record_deletes AFTER DELETE ON {schema}.entities
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.record_entity_changes();
