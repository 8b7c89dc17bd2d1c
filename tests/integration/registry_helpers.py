"""Registry fixtures for integration tests: organisations, datasets, and a caller header.

``as_caller`` plugs a test identity into the hub's one identity point
(``keys.CALLER_ORGANISATION``): the organisation named in the ``X-Test-Organisation`` header.
Only tests do this; access control supplies the real resolver.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from hub import keys
from tests.conftest import CATCH_ALL
from tests.integration.helpers import JSON

REG = "/registry/v1"
HUB = "/ngsi-ld/v1"
V = "https://uri.etsi.org/ngsi-ld/default-context/"
ORGS = {"200000": "長野県", "202011": "長野市", "202029": "松本市", "202037": "上田市"}


async def _header_caller(request: web.Request) -> str | None:
    return request.headers.get("X-Test-Organisation")


def as_caller(client: TestClient) -> None:
    with warnings.catch_warnings():  # the app is running: aiohttp warns about changing it
        warnings.simplefilter("ignore", DeprecationWarning)
        client.server.app[keys.CALLER_ORGANISATION] = _header_caller
        # the prefecture (200000) manages everything only as the configured operator
        app = client.server.app
        app[keys.SETTINGS] = replace(app[keys.SETTINGS], operator_organisations="200000")


def dataset(ds_id: str, owner: str, types: list[str], prefixes: list[str],
            **extra: Any) -> dict[str, Any]:
    return {"id": ds_id, "owner": owner, "name": {"ja": ds_id, "en": ds_id},
            "rule": {"entityTypes": types, "idPrefixes": prefixes}, "licence": "CC-BY-4.0",
            "openData": True, "updateFrequency": "hourly", **extra}


async def registry_without_catch_all(client: TestClient) -> None:
    """The Nagano organisations and two city rain-gauge datasets instead of the catch-all."""
    resp = await client.delete(f"{REG}/datasets/{CATCH_ALL}")
    assert resp.status == 204, await resp.text()
    for org_id, name in ORGS.items():
        resp = await client.put(f"{REG}/organisations/{org_id}", headers=JSON,
                                json={"name": {"ja": name}})
        assert resp.status in (200, 201), await resp.text()
    for ds in (dataset("nagano-rain", "202011", ["RainGauge"],
                       ["urn:ngsi-ld:WeatherObserved:nagano-"]),
               dataset("ueda-rain", "202037", ["RainGauge"],
                       ["urn:ngsi-ld:WeatherObserved:ueda-"])):
        resp = await client.post(f"{REG}/datasets", headers=JSON, json=ds)
        assert resp.status == 201, await resp.text()


def gauge(eid: str, mm: float = 1.0) -> dict[str, Any]:
    return {"id": eid, "type": "RainGauge",
            "precipitation": {"type": "Property", "value": mm, "unitCode": "MMT"}}


async def stored(client: TestClient, eid: str, tenant: str | None = None) -> Any:
    """The entity as retrieved (normalized, with system attributes), or the status if none."""
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    resp = await client.get(f"{HUB}/entities/{eid}?options=sysAttrs", headers=headers)
    return await resp.json() if resp.status == 200 else resp.status
