"""The client credentials grant (RFC 6749 4.4) on authlib's ``AuthorizationServer``.

The server is built per request around a ``Preloaded`` snapshot (the calling client's
row, the signing key, settings), so every authlib hook is answered from memory. What the
request changes is recorded on the snapshot (``used_jtis``, ``revoked``) for the caller to
persist after authlib returns; a request whose persistence fails (a replayed assertion
``jti``) is answered as an authentication failure instead of its token.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidScopeError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload

from authz.model import Client
from authz.oauth2.rfc9068_access_tokens import AccessTokenGenerator
from authz.secrets import verify_secret

__all__ = ["AUTH_METHODS", "AuthlibClient", "FormRequest", "Preloaded", "RenkeiServer",
           "build_server", "claimed_client_id"]


class AuthlibClient(ClientMixin):
    """A ``Client`` seen through authlib's ClientMixin."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """No scope asked: every scope the client holds (RFC 6749 3.3 default)."""
        if not scope:
            return " ".join(self.client.scopes)
        return " ".join(s for s in scope.split() if s in self.client.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.client.secret_hash
        return bool(stored) and verify_secret(client_secret, stored or "")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.auth_method == "private_key_jwt":
            return method == "client_assertion_jwt"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class FormRequest(OAuth2Request):
    """An already-read form body and headers as authlib's request."""

    def __init__(self, uri: str, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        super().__init__("POST", uri, headers=dict(headers))
        self._form = dict(form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


@dataclass
class Preloaded:
    """Everything one token-endpoint request may need, loaded before authlib runs."""

    issuer: str
    audience: str
    token_endpoint: str
    lifetime: int
    client: Client | None = None
    signing_jwk: dict[str, Any] | None = None
    token_claims: dict[str, Any] | None = None  # the token named in introspect / revoke
    token_revoked: bool = False
    used_jtis: list[tuple[str, str, int]] = field(default_factory=list)  # client, jti, exp
    revoked: list[tuple[str, int]] = field(default_factory=list)  # jti, exp
    issued: list[tuple[str, str, int]] = field(default_factory=list)  # client, jti, exp
    purpose: str | None = None


class RenkeiServer(AuthorizationServer):
    """authlib's server with its framework hooks answered from a ``Preloaded``."""

    def __init__(self, pre: Preloaded) -> None:
        super().__init__(scopes_supported=None)
        self.pre = pre

    def query_client(self, client_id: str) -> AuthlibClient | None:
        c = self.pre.client
        return AuthlibClient(c) if c is not None and c.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """JWT access tokens are self-contained; only their ``jti`` is noted (persisted by
        the caller) so a client's live tokens can be revoked at secret rotation."""
        from authz.oauth2.rfc9068_access_tokens import peek

        claims = peek(token["access_token"])[1]
        self.pre.issued.append((str(claims["client_id"]), str(claims["jti"]),
                                int(claims["exp"])))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, bytes,
                                                                             dict[str, str]]:
        return status, orjson.dumps(body), dict(headers)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scope escalation is refused (RFC 6749 5.2 invalid_scope), never silently cut."""
        client = self.pre.client
        if scope and client is not None and not set(scope.split()) <= set(client.scopes):
            raise InvalidScopeError(description="the client may not request that scope")


def claimed_client_id(headers: Mapping[str, str], form: Mapping[str, str]) -> str | None:
    """Which client a token request claims to be, to load its row before authlib checks it
    (Basic header, ``client_id`` field, or the unverified ``sub`` of a client assertion)."""
    auth = headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return None
        from urllib.parse import unquote

        return unquote(user)
    if form.get("client_assertion"):
        from authz.oauth2.rfc9068_access_tokens import InvalidToken, peek

        try:
            sub = peek(form["client_assertion"])[1].get("sub")
        except InvalidToken:
            return None
        return sub if isinstance(sub, str) else None
    return form.get("client_id")


AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_assertion_jwt")


class _Grant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)


def build_server(pre: Preloaded) -> RenkeiServer:
    from authz.oauth2.rfc7009_revocation import Revocation
    from authz.oauth2.rfc7523_private_key_jwt import PrivateKeyJwt
    from authz.oauth2.rfc7662_introspection import Introspection

    server = RenkeiServer(pre)
    server.register_grant(_Grant)
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(pre))
    if pre.signing_jwk is not None:
        def extra(client: AuthlibClient) -> dict[str, Any]:
            claims: dict[str, Any] = {"organisation": client.client.organisation}
            if pre.purpose:
                claims["purpose"] = pre.purpose
            return claims

        server.register_token_generator("default", AccessTokenGenerator(
            pre.issuer, pre.audience, pre.signing_jwk, pre.lifetime, extra))
    server.register_endpoint(Introspection(server))
    server.register_endpoint(Revocation(server))
    return server
