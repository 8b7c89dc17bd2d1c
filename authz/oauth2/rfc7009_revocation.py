"""Token revocation (RFC 7009): the token's client revokes it by ``jti``.

authlib authenticates the client and checks the token is its own (2.1); the revoked ``jti``
is recorded on the snapshot and the caller inserts it into ``authz.revoked_tokens``. An
unknown or invalid token answers 200 as RFC 7009 2.2 requires. Every hub process reloads
the revoked set at least every ``revocation_refresh`` seconds (docs/access-control.md), so
a revoked token stops working everywhere within that bound.
"""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint

from authz.oauth2.rfc6749_client_credentials import AUTH_METHODS
from authz.oauth2.rfc7662_introspection import Token, preloaded_token

__all__ = ["Revocation"]


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return preloaded_token(self.server)

    def revoke_token(self, token: Token, request: Any) -> None:
        self.server.pre.revoked.append((str(token["jti"]), int(token["exp"])))
