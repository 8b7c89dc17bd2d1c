"""The history additions of issue #16 behind the one access boundary: ordering or
matching a temporal query on an attribute (or scope) the caller may not read selects
nothing; a deletion the caller may not make records nothing."""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, RAIN, World, world

__all__ = ["world"]

T = BASE + "/temporal/entities"
E = BASE + "/entities"
LATER = "2099-01-01T00:00:00Z"
G7 = "urn:ngsi-ld:Gauge:nagano-7"


def series() -> dict[str, Any]:
    return {"id": G7, "type": "Gauge", "scope": ["/Nagano/Ina"],
            "rain": [{"type": "Property", "value": 1.0, "observedAt": "2026-11-01T00:00:00Z"}],
            "battery": [{"type": "Property", "value": 90.0,
                         "observedAt": "2026-11-01T00:00:00Z"}]}


async def _ids(w: World, who: str, **params: str) -> list[str]:
    resp = await w.http.get(T, params={"type": "Gauge", **params}, headers=w.auth(who))
    assert resp.status == 200, await resp.text()
    return [e["id"] for e in await resp.json()]


async def test_order_and_scope_need_the_right_to_read_them(world: World) -> None:
    resp = await world.http.post(T, json=series(), headers=world.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "attributes": [RAIN]}, "firm")
    assert G7 in await _ids(world, "firm")
    assert G7 in await _ids(world, "firm", orderBy="rain")
    # ordering by, or matching on, what the grant leaves out would reveal it: not selected
    assert G7 not in await _ids(world, "firm", orderBy="battery")
    assert G7 not in await _ids(world, "firm", scopeQ="/Nagano/#")
    assert G7 in await _ids(world, "nagano", scopeQ="/Nagano/#")  # the owner sees it


async def test_a_deletion_the_caller_may_not_make_records_nothing(world: World) -> None:
    resp = await world.http.post(T, json=series(), headers=world.auth("nagano", **JSON))
    assert resp.status == 201
    # another city, and a reader, through the core API: as if it did not exist
    for who in ("ueda", "firm"):
        resp = await world.http.delete(f"{E}/{G7}/attrs/rain", headers=world.auth(who))
        assert resp.status in (403, 404), (who, resp.status)
    # an entity of the current state someone else owns: refused, nothing recorded
    resp = await world.http.delete(f"{E}/urn:ngsi-ld:Gauge:nagano-1",
                                   headers=world.auth("ueda"))
    assert resp.status in (403, 404)
    assert await world.count("SELECT count(*) FROM ngsild.temporal_instances"
                             " WHERE data ? 'deletedAt'") == 0
    # the owner may: one deletion instance
    resp = await world.http.delete(f"{E}/{G7}/attrs/rain", headers=world.auth("nagano"))
    assert resp.status == 204
    assert await world.count("SELECT count(*) FROM ngsild.temporal_instances"
                             " WHERE data ? 'deletedAt'") == 1
