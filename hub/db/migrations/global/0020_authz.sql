-- Access control (docs/access-control.md): OAuth 2 clients, signing keys, revocations,
-- grants with their approval state, the audit log and cross-process rate counters.
-- Organisations are referred to by their registry identifier (全国地方公共団体コード or
-- 法人番号) as text, so this schema does not depend on the registry's tables.
CREATE SCHEMA IF NOT EXISTS authz;

CREATE TABLE IF NOT EXISTS authz.clients (
    client_id       text PRIMARY KEY,
    organisation    text NOT NULL,
    name            text NOT NULL,
    secret_hash     text,            -- scrypt, see authz/secrets.py; NULL for private_key_jwt
    jwks            jsonb,           -- public keys for private_key_jwt (RFC 7523)
    auth_method     text NOT NULL CHECK (auth_method IN
                        ('client_secret_basic', 'client_secret_post', 'private_key_jwt')),
    scopes          text[] NOT NULL,
    rate_per_minute integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz
);
CREATE INDEX IF NOT EXISTS clients_org ON authz.clients (organisation);

-- Asymmetric signing keys; the newest active one signs, every key not yet past
-- verify_until verifies, so rotation never breaks a token still alive.
CREATE TABLE IF NOT EXISTS authz.signing_keys (
    kid          text PRIMARY KEY,
    alg          text NOT NULL,
    private_jwk  jsonb NOT NULL,
    public_jwk   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz,       -- stops signing
    verify_until timestamptz        -- stops verifying (retired_at + token lifetime)
);

-- Revoked access tokens by jti (RFC 7009), kept until the token would have expired anyway.
CREATE TABLE IF NOT EXISTS authz.revoked_tokens (
    jti        text PRIMARY KEY,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_at ON authz.revoked_tokens (revoked_at);

-- jti of client assertions already used (RFC 7523 3, replay protection).
CREATE TABLE IF NOT EXISTS authz.assertion_jtis (
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE TABLE IF NOT EXISTS authz.grants (
    id              uuid PRIMARY KEY,
    consumer_org    text NOT NULL,
    consumer_client text,            -- NULL: every client of consumer_org
    owner_org       text NOT NULL,
    dataset         text,            -- a dataset id, or NULL with entity_type
    entity_type     text,            -- a full type IRI (never a short name)
    actions         text[] NOT NULL,
    attributes      text[],          -- full attribute IRIs; NULL = all
    purpose         text NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz NOT NULL,
    granularity     text NOT NULL DEFAULT 'raw' CHECK (granularity IN ('raw', 'aggregated')),
    min_group_size  integer,
    rate_per_minute integer,
    status          text NOT NULL CHECK (status IN
                        ('requested', 'approved', 'rejected', 'revoked')),
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    decided_by      text,
    decided_at      timestamptz,
    reason          text,
    CHECK ((dataset IS NULL) <> (entity_type IS NULL))
);
CREATE INDEX IF NOT EXISTS grants_consumer ON authz.grants (consumer_org, status);
CREATE INDEX IF NOT EXISTS grants_owner ON authz.grants (owner_org, status);
CREATE INDEX IF NOT EXISTS grants_changed ON authz.grants (coalesce(decided_at, requested_at));

CREATE TABLE IF NOT EXISTS authz.audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    subject      text,
    client_id    text,
    organisation text,
    operation    text NOT NULL,
    target       text,
    owner_org    text,
    dataset      text,
    allowed      boolean NOT NULL,
    rule         text NOT NULL,
    grant_id     uuid,
    purpose      text
);
CREATE INDEX IF NOT EXISTS audit_owner ON authz.audit (owner_org, at);

-- Requests per client per minute window, summed over every hub process.
CREATE TABLE IF NOT EXISTS authz.rate_windows (
    client_id text NOT NULL,
    window_start timestamptz NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (client_id, window_start)
);
