"""Authorization-server metadata (RFC 8414 2), served at
``/.well-known/oauth-authorization-server``."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from authz.model import SCOPES

__all__ = ["metadata"]


def metadata(issuer: str) -> dict[str, Any]:
    """Endpoints are under the issuer URL, so one setting (``issuer``) locates them all.
    In production the issuer is the https URL of the TLS proxy in front of the hub."""
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    doc = AuthorizationServerMetadata({
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "grant_types_supported": ["client_credentials"],
        # RFC 8414 2 makes response_types_supported REQUIRED, with the values of RFC 7591
        # 2 ``response_types``; RFC 7591 2.1 pairs the client-credentials grant with no
        # response type (it never uses an authorization endpoint, and this server has
        # none). So the list is present and empty: ["code"] would advertise a flow we do
        # not offer. (authlib's validate_response_types_supported wants a non-empty list,
        # which is why it is not called below.)
        "response_types_supported": [],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
    })
    if issuer.startswith("https://"):
        # RFC 8414 2 wants https; a local http issuer is for development only
        doc.validate_issuer()
        doc.validate_token_endpoint()
        doc.validate_jwks_uri()
    return dict(doc)
