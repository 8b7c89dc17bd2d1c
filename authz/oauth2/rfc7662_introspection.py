"""Token introspection (RFC 7662) for resource servers and the token's own client.

The token was validated (signature, issuer, audience, lifetime) and looked up in the
revocation table before authlib runs; here authlib authenticates the calling client and
answers ``active`` per RFC 7662 2.2. Only a client of the same organisation as the token
may learn about it; to everyone else the token is simply inactive (2.2: "MUST return
active false" when the caller may not introspect it).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from authz.oauth2.rfc6749_client_credentials import AUTH_METHODS

__all__ = ["Introspection", "Token"]


class Token(dict[str, Any], TokenMixin):
    """Validated access-token claims, with their revocation state."""

    revoked: bool = False

    def get_client_id(self) -> str:
        return str(self["client_id"])

    def get_scope(self) -> str:
        return str(self.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self["exp"]) - int(self["iat"])

    def is_expired(self) -> bool:
        return int(self["exp"]) < time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self["client_id"])


def preloaded_token(server: Any) -> Token | None:
    claims = server.pre.token_claims
    if claims is None:
        return None
    token = Token(claims)
    token.revoked = server.pre.token_revoked
    return token


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return preloaded_token(self.server)

    def check_permission(self, token: Token, client: Any, request: Any) -> bool:
        return bool(client.client.organisation == token.get("organisation"))

    def introspect_token(self, token: Token) -> dict[str, Any]:
        keys = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti",
                "organisation", "purpose")
        body = {k: token[k] for k in keys if k in token}
        body["token_type"] = "Bearer"
        return body
