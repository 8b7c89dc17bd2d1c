-- Access tokens issued, per client, kept until they expire: rotating a client's secret with
-- revoke_tokens copies its live ones into authz.revoked_tokens (docs/access-control.md).
-- A JWT is self-contained, so without this list a leaked token would outlive the rotation.
CREATE TABLE IF NOT EXISTS authz.issued_tokens (
    jti        text PRIMARY KEY,
    client_id  text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS issued_tokens_client ON authz.issued_tokens (client_id, expires_at);
