-- Context source registrations (GS CIM 009 5.9, 5.10) and subscriptions to them (5.11).
--
-- `body` is the registration in stored form (hub/federation/registration.py): the JSON the
-- client sent, validated, with entity types, propertyNames, relationshipNames and extra
-- registration properties expanded to IRIs; rendered on GET by compacting with the
-- request's @context. `owner` is the registering organisation (NULL in development mode):
-- only it or the operator changes the registration. The distributed operations read the
-- active ones (hub/store/csources.py active_registrations).
CREATE TABLE IF NOT EXISTS {schema}.csource_registrations (
    id          text PRIMARY KEY,
    owner       text NULL,
    body        jsonb NOT NULL,
    endpoint    text NOT NULL,
    mode        text NOT NULL DEFAULT 'inclusive',
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL,
    expires_at  timestamptz NULL
);
CREATE INDEX IF NOT EXISTS csource_registrations_created
    ON {schema}.csource_registrations (created_at, id);

-- Subscriptions to registrations live in the subscriptions table beside entity
-- subscriptions, so their notifications go through the same durable queue, leases,
-- retries and counters (hub/subscriptions/delivery.py). kind = 'csource' rows are never
-- `active` for the entity matcher (their own activity is isActive and expiresAt in the
-- body); the entity subscription API lists and retrieves kind = 'entity' only.
ALTER TABLE {schema}.subscriptions ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'entity';
CREATE INDEX IF NOT EXISTS subscriptions_csource ON {schema}.subscriptions (created_at, id)
    WHERE kind = 'csource';
