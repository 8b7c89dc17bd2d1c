"""JWT access tokens (RFC 9068): issued by authlib's generator, validated strictly here.

A token has header ``typ: at+jwt`` and ``alg: ES256`` with the ``kid`` of one of the hub's
keys, and claims ``iss`` (this hub), ``aud`` (this hub's audience), ``sub``, ``client_id``,
``organisation``, ``scope``, ``iat``, ``exp``, ``jti`` (RFC 9068 2.2). Validation accepts
only an algorithm from an explicit allow-list with a key of the matching type, so
``alg: none`` and HMAC-with-the-public-key confusion cannot pass (RFC 8725 3.1, 3.2), and
rejects a wrong ``typ`` so an ID token or a client assertion is never taken for an access
token (RFC 9068 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = ["AccessTokenGenerator", "InvalidToken", "peek", "validate_jwt"]

LEEWAY = 30  # seconds of clock skew tolerated on exp / nbf / iat


class InvalidToken(Exception):
    """The bearer token is not acceptable; ``str()`` says why (for the log and the
    ``WWW-Authenticate`` error_description)."""


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """authlib's RFC 9068 generator with our key, audience and organisation claim."""

    def __init__(self, issuer: str, audience: str, private_jwk: dict[str, Any],
                 lifetime: int, extra: Callable[[Any], dict[str, Any]]) -> None:
        super().__init__(issuer=issuer, alg="ES256", expires_generator=lifetime)
        self._audience = audience
        self._jwk = private_jwk
        self._extra = extra

    def get_jwks(self) -> dict[str, Any]:
        return self._jwk

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return self._audience

    def get_extra_claims(self, client: Any, grant_type: Any, user: Any,
                         scope: Any) -> dict[str, Any]:
        return self._extra(client)

    def access_token_generator(self, client: Any, grant_type: Any, user: Any,
                               scope: Any) -> str:
        # joserfc takes the kid from the header, not from the key: put it there so
        # verifiers pick the right key during a rotation
        from authlib._joserfc_helpers import import_any_key

        claims = self._claims(client, grant_type, user, scope)
        header = {"alg": self.alg, "typ": "at+jwt", "kid": self._jwk["kid"]}
        return jwt.encode(header, claims, key=import_any_key(self._jwk))

    def _claims(self, client: Any, grant_type: Any, user: Any, scope: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "exp": now + self._get_expires_in(client, grant_type),
            "aud": self._audience,
            "sub": client.get_client_id(),
            "client_id": client.get_client_id(),
            "iat": now,
            "nbf": now,
            "jti": self.get_jti(client, grant_type, user, scope),
            "scope": scope or "",
        }
        claims.update(self.get_extra_claims(client, grant_type, user, scope))
        return claims


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims WITHOUT verification: only to choose the issuer's key set."""
    try:
        obj = jws.extract_compact(token.encode())
        import orjson

        claims = orjson.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidToken("the token is not a JWS compact serialisation") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("the token payload is not a JSON object")
    return dict(obj.headers()), claims


def validate_jwt(token: str, keys: KeySet, *, issuer: str, audience: str,
                 algorithms: Iterable[str] = ("ES256",), typs: Iterable[str] = ("at+jwt",),
                 now: float | None = None) -> dict[str, Any]:
    """Verify signature and the RFC 9068 claims; return the claims or raise InvalidToken."""
    header, _ = peek(token)
    algs = list(algorithms)
    if header.get("alg") not in algs:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if typ not in {t.lower() for t in typs}:
        raise InvalidToken(f"token type {header.get('typ')!r} is not an access token")
    if "kid" not in header:
        raise InvalidToken("the token names no key (kid)")
    try:
        decoded = jwt.decode(token, keys, algorithms=algs)
    except (JoseError, ValueError) as exc:
        raise InvalidToken("the signature does not verify") from exc
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(now if now is not None else time.time()), leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True}, sub={"essential": True}, jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidToken(f"claim check failed: {exc.description or exc.error}") from exc
    return claims
