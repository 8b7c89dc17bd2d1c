"""Access tokens from external identity providers (a Keycloak realm, FIWARE Keyrock).

An issuer is accepted only when configured (setting ``external_issuers``, a JSON list):

    [{"issuer": "https://idp.example/realms/nagano",
      "jwks_uri": "https://idp.example/realms/nagano/protocol/openid-connect/certs",
      "audience": "renkei", "org_claim": "organisation",
      "org_map": {"nagano-city": "202011"}, "algorithms": ["RS256"],
      "scopes": ["read"]}]

The token is verified against the issuer's JWKS, fetched over HTTP with a timeout and
cached for ``JWKS_TTL`` seconds (refetched once early when a token names an unknown
``kid``, so the issuer's key rotation is followed). ``org_claim`` names the claim whose
value — through ``org_map`` when given — is the registered organisation the token acts
for; a token without it is refused. Keycloak access tokens have ``typ: JWT``, so the
accepted header types are configurable per issuer (default ``at+jwt`` and ``JWT``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from joserfc.jwk import KeySet

from authz.oauth2.rfc9068_access_tokens import InvalidToken, validate_jwt

__all__ = ["ExternalIssuer", "ExternalIssuers", "parse_issuers"]

JWKS_TTL = 300.0
JWKS_MIN_REFETCH = 10.0  # at most one early refetch per issuer in this many seconds


@dataclass
class ExternalIssuer:
    issuer: str
    jwks_uri: str
    audience: str
    org_claim: str = "organisation"
    org_map: dict[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    typs: tuple[str, ...] = ("at+jwt", "JWT")
    scopes: tuple[str, ...] | None = None  # None: the token's own ``scope`` claim
    _keys: KeySet | None = None
    _fetched: float = 0.0

    def organisation(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.org_claim)
        if isinstance(value, list) and value:
            value = value[0]
        if not isinstance(value, str) or not value:
            raise InvalidToken(f"the token has no {self.org_claim} claim")
        org = self.org_map.get(value, value if not self.org_map else None)
        if org is None:
            raise InvalidToken(f"{self.org_claim} {value!r} maps to no organisation")
        return org


def parse_issuers(raw: str | None) -> dict[str, ExternalIssuer]:
    if not raw:
        return {}
    items = orjson.loads(raw)
    if not isinstance(items, list):
        raise ValueError("external_issuers must be a JSON list of objects")
    out: dict[str, ExternalIssuer] = {}
    for item in items:
        iss = ExternalIssuer(
            issuer=item["issuer"], jwks_uri=item["jwks_uri"], audience=item["audience"],
            org_claim=item.get("org_claim", "organisation"),
            org_map=dict(item.get("org_map", {})),
            algorithms=tuple(item.get("algorithms", ("RS256", "ES256"))),
            typs=tuple(item.get("typs", ("at+jwt", "JWT"))),
            scopes=tuple(item["scopes"]) if "scopes" in item else None)
        if any(a.upper().startswith("HS") or a.lower() == "none" for a in iss.algorithms):
            raise ValueError("external issuers are verified with public keys only")
        out[iss.issuer] = iss
    return out


class ExternalIssuers:
    """The configured issuers and their cached key sets."""

    def __init__(self, issuers: dict[str, ExternalIssuer], session: aiohttp.ClientSession,
                 timeout: float) -> None:
        self.issuers = issuers
        self.session = session
        self.timeout = timeout

    def get(self, issuer: Any) -> ExternalIssuer | None:
        return self.issuers.get(issuer) if isinstance(issuer, str) else None

    async def _fetch(self, iss: ExternalIssuer) -> KeySet:
        try:
            async with self.session.get(
                    iss.jwks_uri, timeout=aiohttp.ClientTimeout(total=self.timeout),
                    allow_redirects=False) as resp:
                if resp.status != 200:
                    raise InvalidToken(f"the issuer's JWKS answered {resp.status}")
                body = await resp.content.read(1_000_000)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InvalidToken("the issuer's JWKS could not be fetched") from exc
        try:
            keys = KeySet.import_key_set(orjson.loads(body))
        except Exception as exc:  # any malformed document: the token cannot be trusted
            raise InvalidToken("the issuer's JWKS is not a valid key set") from exc
        iss._keys, iss._fetched = keys, time.monotonic()
        return keys

    async def validate(self, token: str, header: dict[str, Any],
                       iss: ExternalIssuer) -> dict[str, Any]:
        now = time.monotonic()
        keys = iss._keys
        stale = keys is None or now - iss._fetched > JWKS_TTL
        unknown_kid = keys is not None and header.get("kid") not in {
            k.kid for k in keys.keys}
        if stale or (unknown_kid and now - iss._fetched > JWKS_MIN_REFETCH):
            keys = await self._fetch(iss)
        assert keys is not None
        return validate_jwt(token, keys, issuer=iss.issuer, audience=iss.audience,
                            algorithms=iss.algorithms, typs=iss.typs)
