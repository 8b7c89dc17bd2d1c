"""The harness itself: the digest must notice every kind of stored change an attack could
make, or every "and nothing changed" assertion in tests/security/ would be vacuous."""

from __future__ import annotations

import pytest

from hub import keys
from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest

LATER = "2099-01-01T00:00:00Z"


async def _changes(d: Digest, table: str) -> None:
    with pytest.raises(AssertionError, match=table.replace(".", r"\.")):
        await d.check()
    await d.seal()


async def test_the_digest_notices_each_kind_of_change(world: World) -> None:
    w = world
    d = Digest(w.url)
    await d.seal()
    await d.check()  # nothing happened: unchanged

    resp = await w.http.patch(BASE + "/entities/urn:ngsi-ld:Gauge:nagano-1/attrs",
                              json={"rain": {"type": "Property", "value": 99.0}},
                              headers=w.auth("nagano", **JSON))
    assert resp.status == 204, await resp.text()
    await _changes(d, "ngsild.entities")

    history = {"id": "urn:ngsi-ld:Gauge:nagano-1", "type": "Gauge",
               "rain": [{"type": "Property", "value": 1.0,
                         "observedAt": "2026-01-01T00:00:00Z"}]}
    resp = await w.http.post(BASE + "/temporal/entities", json=history,
                             headers=w.auth("nagano", **JSON))
    assert resp.status in (201, 204), await resp.text()
    await _changes(d, "ngsild.temporal_instances")

    sub = {"type": "Subscription", "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": "http://example.com/notify"}}}
    resp = await w.http.post(BASE + "/subscriptions", json=sub, headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    await _changes(d, "ngsild.subscriptions")

    resp = await w.http.post(BASE + "/jsonldContexts", json={"@context": {"x": "urn:x"}},
                             headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    await _changes(d, "renkei.contexts")

    await w.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER}, "firm")
    await _changes(d, "authz.grants")

    await w.new_client("another", "9234567890123", ["read"])
    await _changes(d, "authz.clients")

    async with w.http.app[keys.POOL].acquire() as con:
        await con.execute("UPDATE registry.datasets SET open_data = true"
                          " WHERE id = 'nagano-rain'")
    await _changes(d, "registry.datasets")

    resp = await w.http.post(BASE + "/entities", json={"id": "urn:ngsi-ld:Gauge:ueda-9",
                                                       "type": "Gauge"},
                             headers=w.auth("ueda", **JSON, **{"NGSILD-Tenant": "other"}))
    assert resp.status == 201, await resp.text()
    await _changes(d, "renkei.tenants")
