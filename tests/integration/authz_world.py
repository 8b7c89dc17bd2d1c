"""A small world for access-control tests over HTTP, with enforcement ON.

Organisations (the prefecture, Nagano city, Ueda city, a private firm), datasets in the
registry (Nagano's rain gauges, Ueda's rain gauges, Nagano's open river levels, Ueda's
personal-data library loans), a client per organisation, real tokens from the hub's own
token endpoint, entities written by their owners through the API.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import keys
from hub.app import create_app
from hub.federation.forward import invalidate_registrations
from hub.jsonld.core import DEFAULT_VOCAB
from hub.service import admin
from hub.settings import Settings
from registry import RegistryRepository
from registry.model import dataset_from_json, organisation_from_json
from tests.conftest import reset_database

PREF, NAGANO, UEDA, FIRM = "200000", "202011", "202037", "9234567890123"
GAUGE = DEFAULT_VOCAB + "Gauge"
RIVER = DEFAULT_VOCAB + "River"
LOANS = DEFAULT_VOCAB + "Loans"
RAIN = DEFAULT_VOCAB + "rain"
BATTERY = DEFAULT_VOCAB + "battery"
BASE = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
ISSUER = "http://hub.test"

ORGS = [(PREF, "長野県", "Nagano Prefecture"), (NAGANO, "長野市", "Nagano City"),
        (UEDA, "上田市", "Ueda City"), (FIRM, "株式会社テスト", "Test KK")]
DATASETS: list[dict[str, Any]] = [
    {"id": "nagano-rain", "owner": NAGANO, "rule": {"entityTypes": ["Gauge"],
                                                   "idPrefixes": ["urn:ngsi-ld:Gauge:nagano-"]}},
    {"id": "ueda-rain", "owner": UEDA, "rule": {"entityTypes": ["Gauge"],
                                               "idPrefixes": ["urn:ngsi-ld:Gauge:ueda-"]}},
    {"id": "nagano-rivers", "owner": NAGANO, "openData": True,
     "rule": {"entityTypes": ["River"]}},
    {"id": "ueda-loans", "owner": UEDA, "personalData": True,
     "rule": {"entityTypes": ["Loans"]}},
]


def gauge(city: str, n: int, rain: float, battery: float = 80.0) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Gauge:{city}-{n}", "type": "Gauge",
            "rain": {"type": "Property", "value": rain},
            "battery": {"type": "Property", "value": battery}}


@dataclass
class World:
    http: TestClient
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def auth(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    async def token(self, client: dict[str, Any], **form: str) -> tuple[int, dict[str, Any]]:
        basic = base64.b64encode(
            f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        resp = await self.http.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                           **form},
                                    headers={"Authorization": f"Basic {basic}"})
        return resp.status, await resp.json()

    async def new_client(self, name: str, org: str, scopes: list[str],
                         **extra: Any) -> dict[str, Any]:
        pool = self.http.app[keys.POOL]
        async with pool.acquire() as con:
            client, secret = await admin.create_client(
                con, {"name": name, "scopes": scopes, **extra}, org)
        return admin.client_view(client, secret)

    async def login(self, who: str, org: str, scopes: list[str], **form: str) -> str:
        self.clients[who] = await self.new_client(who, org, scopes)
        status, body = await self.token(self.clients[who], **form)
        assert status == 200, body
        self.tokens[who] = body["access_token"]
        return self.tokens[who]

    def allow_receiver(self, port: int) -> None:
        """Let the enforcing hub deliver to a test receiver on 127.0.0.1:``port`` (the
        egress policy refuses loopback in enforce mode; this is ``egress_allow`` for one
        address:port, added after start-up because the receiver's port is random)."""
        import ipaddress

        policy = self.http.app[keys.EGRESS_POLICY]
        policy.allowed_endpoints.add((ipaddress.ip_address("127.0.0.1"), port))

    async def refresh(self) -> None:
        await self.http.app[keys.ACCESS].refresh()

    async def register_source(self, reg: dict[str, Any], who: str = "ueda") -> None:
        """Register a context source as ``who`` and have the hub follow it at once, not
        after its registration cache's time to live."""
        resp = await self.http.post(BASE + "/csourceRegistrations", json=reg,
                                    headers=self.auth(who, **JSON))
        assert resp.status == 201, await resp.text()
        invalidate_registrations(self.http.app)

    async def grant(self, body: dict[str, Any], consumer: str, *, approve: bool = True) -> str:
        resp = await self.http.post("/authz/v1/grants", json=body,
                                    headers=self.auth(f"{consumer}-admin"))
        assert resp.status == 201, await resp.text()
        gid = (await resp.json())["id"]
        if approve:
            owner = (await resp.json())["owner_org"]
            who = {NAGANO: "nagano-admin", UEDA: "ueda-admin"}[owner]
            resp = await self.http.post(f"/authz/v1/grants/{gid}/approve", json={},
                                        headers=self.auth(who))
            assert resp.status == 200, await resp.text()
        return str(gid)

    async def count(self, sql: str, *args: Any) -> int:
        con = await asyncpg.connect(self.url)
        try:
            return int(await con.fetchval(sql, *args))
        finally:
            await con.close()


async def reset_authz(url: str) -> None:
    await reset_database(url)
    con = await asyncpg.connect(url)
    try:
        if await con.fetchval("SELECT to_regclass('authz.clients') IS NOT NULL"):
            await con.execute("TRUNCATE authz.clients, authz.grants, authz.audit,"
                              " authz.revoked_tokens, authz.assertion_jtis,"
                              " authz.rate_windows, authz.signing_keys")
        if await con.fetchval("SELECT to_regclass('registry.datasets') IS NOT NULL"):
            await con.execute("DELETE FROM registry.adapter_runs")
            await con.execute("DELETE FROM registry.adapters")
            await con.execute("DELETE FROM registry.datasets")
            await con.execute("DELETE FROM registry.organisations")
    finally:
        await con.close()


def _expand(name: str) -> str:
    return name if ":" in name else DEFAULT_VOCAB + name


async def register(pool: asyncpg.Pool) -> None:
    repo = RegistryRepository(pool)
    for org_id, ja, en in ORGS:
        await repo.save_organisation(organisation_from_json(
            {"id": org_id, "name": {"ja": ja, "en": en}}))
    for ds in DATASETS:
        await repo.save_dataset(dataset_from_json(
            {"name": {"ja": ds["id"], "en": ds["id"]}, "licence": "CC-BY-4.0",
             "updateFrequency": "hourly", **ds}, _expand))


def enforced_settings(database_url: str, **kw: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "auth_mode": "enforce",
                              "issuer": ISSUER, "authz_refresh": 0.5,
                              "operator_organisations": PREF}  # the configured operator
    values.update(kw)
    return Settings(**values)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await reset_authz(database_url)
    app = create_app(enforced_settings(database_url))
    async with TestClient(TestServer(app)) as http:
        await register(app[keys.POOL])
        app[keys.REGISTRY_RULES].invalidate()
        w = World(http, database_url)
        await w.login("nagano", NAGANO, ["read", "write", "subscribe"])
        await w.login("ueda", UEDA, ["read", "write", "subscribe"])
        await w.login("nagano-admin", NAGANO, ["manage"])
        await w.login("ueda-admin", UEDA, ["manage"])
        await w.login("pref", PREF, ["read", "manage"])
        await w.login("firm", FIRM, ["read", "subscribe"], purpose="flood-app")
        await w.login("firm-admin", FIRM, ["manage"])
        await w.refresh()
        for city, who in (("nagano", "nagano"), ("ueda", "ueda")):
            for n, rain in enumerate((5.0, 15.0, 25.0)):
                resp = await http.post(BASE + "/entities", json=gauge(city, n, rain),
                                       headers=w.auth(who, **JSON))
                assert resp.status == 201, await resp.text()
        river = {"id": "urn:ngsi-ld:River:chikuma", "type": "River",
                 "level": {"type": "Property", "value": 2.3}}
        resp = await http.post(BASE + "/entities", json=river, headers=w.auth("nagano", **JSON))
        assert resp.status == 201, await resp.text()
        loans = {"id": "urn:ngsi-ld:Loans:ueda-1", "type": "Loans",
                 "count": {"type": "Property", "value": 12}}
        resp = await http.post(BASE + "/entities", json=loans, headers=w.auth("ueda", **JSON))
        assert resp.status == 201, await resp.text()
        await w.refresh()
        yield w
    app[keys.TENANTS].forget()
