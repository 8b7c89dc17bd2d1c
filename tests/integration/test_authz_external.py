"""Tokens of an external identity provider (a Keycloak realm, say), accepted when its
issuer is configured: verified against its JWKS, served here by a local HTTP server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey

from hub import keys
from hub.app import create_app
from tests.integration.authz_world import (
    BASE,
    NAGANO,
    enforced_settings,
    register,
    reset_authz,
)

REALM = "http://127.0.0.1/realms/nagano"
KEY = RSAKey.generate_key(2048, parameters={"kid": "kc-1"})


@pytest.fixture
async def idp() -> AsyncIterator[dict[str, Any]]:
    """A JWKS endpoint on loopback that counts its fetches."""
    seen = {"fetches": 0, "keys": [KEY.as_dict(private=False)]}

    async def jwks(request: web.Request) -> web.Response:
        seen["fetches"] += 1
        return web.json_response({"keys": seen["keys"]})

    app = web.Application()
    app.router.add_get("/certs", jwks)
    server = TestServer(app)
    await server.start_server()
    seen["url"] = str(server.make_url("/certs"))
    yield seen
    await server.close()


@pytest.fixture
async def hub(database_url: str, idp: dict[str, Any]) -> AsyncIterator[TestClient]:
    await reset_authz(database_url)
    issuers = [{"issuer": REALM, "jwks_uri": idp["url"], "audience": "renkei",
                "org_claim": "municipality",
                "org_map": {"nagano-city": NAGANO, "unregistered": "202100"},
                "algorithms": ["RS256"], "scopes": ["read"]}]
    app = create_app(enforced_settings(database_url, external_issuers=orjson.dumps(
        issuers).decode()))
    async with TestClient(TestServer(app)) as client:
        await register(app[keys.POOL])
        await app[keys.ACCESS].refresh()
        yield client


def kc_token(key: RSAKey = KEY, **kw: Any) -> str:
    now = int(time.time())
    claims = {"iss": REALM, "aud": "renkei", "sub": "user-1", "azp": "nagano-portal",
              "municipality": "nagano-city", "iat": now, "exp": now + 300, "jti": "kc-j1",
              "typ": "Bearer"}
    claims.update(kw)
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)


async def test_external_token_maps_to_a_registered_organisation(
        hub: TestClient, idp: dict[str, Any]) -> None:
    resp = await hub.get(BASE + "/types", headers={"Authorization": f"Bearer {kc_token()}"})
    assert resp.status == 200
    resp = await hub.get(BASE + "/types", headers={"Authorization": f"Bearer {kc_token()}"})
    assert resp.status == 200 and idp["fetches"] == 1  # the key set is cached


@pytest.mark.parametrize("claims", [
    {"municipality": "ueda-city"}, {"municipality": None}, {"aud": "someone-else"},
    {"municipality": "unregistered"},
    {"exp": int(time.time()) - 600}, {"iss": "http://127.0.0.1/realms/other"},
])
async def test_external_tokens_that_fail(hub: TestClient, claims: dict[str, Any]) -> None:
    token = kc_token(**{k: v for k, v in claims.items() if v is not None})
    if claims.get("municipality", "x") is None:
        now = int(time.time())
        token = jwt.encode({"alg": "RS256", "typ": "JWT", "kid": "kc-1"},
                           {"iss": REALM, "aud": "renkei", "sub": "u", "iat": now,
                            "exp": now + 300, "jti": "j"}, KEY)
    resp = await hub.get(BASE + "/types", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401, await resp.text()


async def test_external_token_signed_by_another_key(hub: TestClient) -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "kc-1"})
    resp = await hub.get(BASE + "/types",
                         headers={"Authorization": f"Bearer {kc_token(other)}"})
    assert resp.status == 401


async def test_external_scopes_are_the_configured_ones(hub: TestClient) -> None:
    resp = await hub.post(BASE + "/entities", json={"id": "urn:ngsi-ld:Gauge:nagano-9",
                                                    "type": "Gauge"},
                          headers={"Authorization": f"Bearer {kc_token(scope='write')}",
                                   "Content-Type": "application/json"})
    assert resp.status == 403  # configured scopes: read only


async def test_unreachable_jwks_refuses_the_token(hub: TestClient,
                                                  idp: dict[str, Any]) -> None:
    hub.app[keys.EXTERNAL].issuers[REALM].jwks_uri = "http://127.0.0.1:9/certs"
    resp = await hub.get(BASE + "/types", headers={"Authorization": f"Bearer {kc_token()}"})
    assert resp.status == 401
