-- Entity subscriptions forwarded to context sources (GS CIM 009 4.3.6, createSubscription;
-- hub/federation/subscriptions.py, docs/architecture.md "Federation").
--
-- One row per (local subscription, registration) whose source holds a subscription made by
-- this hub for it. The source notifies POST /ngsi-ld/ex/v1/federation/notifications/{token}:
-- the token is random (256 bits) and only its SHA-256 is kept (`token_hash`), so a copy of
-- the database does not let anyone post notifications. `owner` is the registration's owner
-- when the row was made: the notifications carry that organisation's data. Deleting the
-- registration or the local subscription deletes the remote subscriptions (best effort)
-- and then the rows, through their APIs; no foreign key, so the rows are still there to
-- name the remote subscriptions when the registration's row is gone. A row whose
-- registration is not active is answered 404 all the same.
CREATE TABLE IF NOT EXISTS {schema}.forwarded_subscriptions (
    token_hash  bytea PRIMARY KEY,
    sub_id      text NOT NULL,
    reg_id      text NOT NULL,
    owner       text NULL,
    remote_id   text NOT NULL,
    location    text NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sub_id, reg_id)
);
CREATE INDEX IF NOT EXISTS forwarded_subscriptions_reg
    ON {schema}.forwarded_subscriptions (reg_id);
