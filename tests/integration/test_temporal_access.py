"""The temporal API under enforcement: the same reads, writes and grants as entities.

Each temporal entity keeps the dataset the registry decided when it was created, queries
are filtered in SQL on it, attributes the caller may not read are left out, and only the
owner writes; an invisible temporal entity is a 404, like a missing one.
"""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, RAIN, World, world

__all__ = ["world"]

T = BASE + "/temporal/entities"
LATER = "2099-01-01T00:00:00Z"


def series(city: str, n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Gauge:{city}-{n}", "type": "Gauge",
            "rain": [{"type": "Property", "value": v, "observedAt": f"2026-11-0{i + 1}T00:00:00Z"}
                     for i, v in enumerate((1.0, 2.0, 3.0))],
            "battery": [{"type": "Property", "value": 90.0,
                         "observedAt": "2026-11-01T00:00:00Z"}]}


async def instances(w: World) -> int:
    return await w.count("SELECT count(*) FROM ngsild.temporal_instances")


async def seed(w: World) -> None:
    for city in ("nagano", "ueda"):
        resp = await w.http.post(T, json=series(city, 7), headers=w.auth(city, **JSON))
        assert resp.status == 201, await resp.text()


async def test_only_the_owner_creates_a_temporal_entity(world: World) -> None:
    resp = await world.http.post(T, json=series("nagano", 8), headers=world.auth("ueda", **JSON))
    assert resp.status == 403, await resp.text()
    resp = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:nagano-8", headers=world.auth("nagano"))
    assert resp.status == 404
    resp = await world.http.post(T, json=series("nagano", 8),
                                 headers={"Content-Type": "application/json"})
    assert resp.status == 401


async def test_ungranted_temporal_data_is_not_found(world: World) -> None:
    await seed(world)
    resp = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:nagano-7", headers=world.auth("firm"))
    assert resp.status == 404
    assert (await resp.json())["type"].endswith("/ResourceNotFound")
    resp = await world.http.get(f"{T}?type=Gauge", headers=world.auth("firm"))
    assert resp.status == 200 and await resp.json() == []
    # another municipality sees none of Nagano's history either, by id or by query
    resp = await world.http.get(f"{T}?type=Gauge", headers=world.auth("ueda"))
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:Gauge:ueda-7"]
    resp = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:nagano-7", headers=world.auth("ueda"))
    assert resp.status == 404
    # the owner and the prefecture (its default) see everything
    resp = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:nagano-7", headers=world.auth("nagano"))
    body = await resp.json()
    assert len(body["rain"]) == 3 and len(body["battery"]) == 1
    resp = await world.http.get(f"{T}?type=Gauge", headers=world.auth("pref"))
    assert len(await resp.json()) == 2


async def test_a_grant_shows_only_its_attributes(world: World) -> None:
    await seed(world)
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "attributes": [RAIN]}, "firm")
    resp = await world.http.get(f"{T}?type=Gauge", headers=world.auth("firm"))
    body = await resp.json()
    assert [e["id"] for e in body] == ["urn:ngsi-ld:Gauge:nagano-7"]
    assert len(body[0]["rain"]) == 3 and "battery" not in body[0]
    resp = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:nagano-7", headers=world.auth("firm"))
    assert resp.status == 200 and "battery" not in await resp.json()
    # asking for the hidden attribute by name reveals nothing either
    resp = await world.http.get(f"{T}?type=Gauge&attrs=battery", headers=world.auth("firm"))
    assert resp.status == 403 or await resp.json() == []


async def test_temporal_writes_by_another_organisation_change_nothing(world: World) -> None:
    await seed(world)
    before = await instances(world)
    eid = "urn:ngsi-ld:Gauge:nagano-7"
    extra = {"rain": {"type": "Property", "value": 9.0, "observedAt": "2026-11-09T00:00:00Z"}}
    attempts = [
        world.http.post(f"{T}/{eid}/attrs", json=extra, headers=world.auth("ueda", **JSON)),
        world.http.delete(f"{T}/{eid}/attrs/rain?deleteAll=true", headers=world.auth("ueda")),
        world.http.delete(f"{T}/{eid}", headers=world.auth("ueda")),
    ]
    for attempt in attempts:
        resp = await attempt
        assert resp.status == 404, await resp.text()  # invisible to Ueda: not found
    assert await instances(world) == before
    # the owner may
    resp = await world.http.post(f"{T}/{eid}/attrs", json=extra,
                                 headers=world.auth("nagano", **JSON))
    assert resp.status == 204, await resp.text()
    assert await instances(world) == before + 1
    resp = await world.http.delete(f"{T}/{eid}", headers=world.auth("nagano"))
    assert resp.status == 204
