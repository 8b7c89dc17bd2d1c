"""``private_key_jwt`` client authentication (RFC 7523 2.2, 3; OpenID Connect Core 9).

The client signs an assertion with its own key; the hub verifies it against the public
JWKS registered with the client. Replay protection (RFC 7523 3, item 7): every assertion
must carry a ``jti`` and expire within ``MAX_ASSERTION_LIFETIME``; the ``jti`` is recorded
on the ``Preloaded`` snapshot and the caller inserts it into ``authz.assertion_jtis`` after
authlib returns: an insert that conflicts means a replay, and the token is not given out.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from authz.oauth2.rfc6749_client_credentials import AuthlibClient, Preloaded

__all__ = ["MAX_ASSERTION_LIFETIME", "PrivateKeyJwt"]

MAX_ASSERTION_LIFETIME = 300  # seconds: a longer-lived assertion is refused


class PrivateKeyJwt(JWTBearerClientAssertion):
    def __init__(self, pre: Preloaded) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.pre = pre

    def get_audiences(self) -> list[str]:
        """RFC 7523 3 item 3: the token endpoint URL or the issuer identifies us."""
        return [self.pre.token_endpoint, self.pre.issuer]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp - time.time() > MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="the assertion lives too long")
        if any(j == jti for _, j, _ in self.pre.used_jtis):
            return False
        self.pre.used_jtis.append((str(claims["sub"]), str(jti), exp))
        return True

    def resolve_client_public_key(self, client: AuthlibClient) -> KeySet:
        jwks = client.client.jwks
        if not jwks:
            raise InvalidClientError(description="the client has no registered keys")
        return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
