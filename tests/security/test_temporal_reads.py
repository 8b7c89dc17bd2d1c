"""Temporal reads behind the one access boundary: every parameter of the consumption API
(lastN, windows, simplified and aggregated representations, the POST query) sees only
what the caller may read raw; each refused read changes nothing stored."""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, RAIN, World, world
from tests.security.conftest import Digest, digest

__all__ = ["digest", "world"]

T = BASE + "/temporal/entities"
Q = BASE + "/temporal/entityOperations/query"
LATER = "2099-01-01T00:00:00Z"
NAGANO_7 = "urn:ngsi-ld:Gauge:nagano-7"
AGGR = {"aggrMethods": "sum,max,totalCount", "aggrPeriodDuration": "P1D",
        "format": "aggregatedValues"}


def series(city: str) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Gauge:{city}-7", "type": "Gauge",
            "rain": [{"type": "Property", "value": v, "observedAt": f"2026-11-0{i + 1}T00:00:00Z"}
                     for i, v in enumerate((1.0, 2.0, 3.0))],
            "battery": [{"type": "Property", "value": b,
                         "observedAt": f"2026-11-0{i + 1}T00:00:00Z"}
                        for i, b in enumerate((90.0, 85.0))]}


async def seed(w: World) -> None:
    for city in ("nagano", "ueda"):
        resp = await w.http.post(T, json=series(city), headers=w.auth(city, **JSON))
        assert resp.status == 201, await resp.text()


async def problem(resp: Any) -> tuple[int, str]:
    return resp.status, (await resp.json())["type"]


async def test_a_grant_limited_to_attributes_limits_history_and_aggregates(
        world: World, digest: Digest) -> None:
    await seed(world)
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "attributes": [RAIN]}, "firm")
    await digest.seal()
    firm = world.auth("firm")
    body = await (await world.http.get(f"{T}/{NAGANO_7}", params={"lastN": "1"},
                                       headers=firm)).json()
    assert [i["value"] for i in body["rain"]] == [3.0] and "battery" not in body
    body = await (await world.http.get(f"{T}/{NAGANO_7}", params={"options": "temporalValues"},
                                       headers=firm)).json()
    assert set(body) == {"id", "type", "rain"}
    body = await (await world.http.get(f"{T}/{NAGANO_7}", params=AGGR, headers=firm)).json()
    assert set(body) == {"id", "type", "rain"}
    assert [s[0] for s in body["rain"]["sum"]] == [1.0, 2.0, 3.0]
    # the hidden attribute, asked for by name, in any form: nothing, as if it had no history
    for params in ({"attrs": "battery"}, {"attrs": "battery", **AGGR},
                   {"pick": "battery"}, {"attrs": "battery", "lastN": "1"}):
        resp = await world.http.get(f"{T}/{NAGANO_7}", params=params, headers=firm)
        assert await problem(resp) == (404, "https://uri.etsi.org/ngsi-ld/errors/"
                                            "ResourceNotFound"), params
    resp = await world.http.get(T, params={"type": "Gauge", "attrs": "battery", **AGGR},
                                headers=firm)
    assert resp.status == 403 or await resp.json() == []
    query = {"type": "Query", "entities": [{"type": "Gauge"}], "attrs": ["battery"],
             "temporalQ": {"timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}}
    resp = await world.http.post(Q, json=query, headers=world.auth("firm", **JSON))
    assert resp.status == 403 or await resp.json() == []
    # the POST query without attrs: the granted entity, its granted attribute only
    del query["attrs"]
    resp = await world.http.post(Q, json=query, headers=world.auth("firm", **JSON))
    body = await resp.json()
    assert [(e["id"], sorted(k for k in e if k not in ("id", "type"))) for e in body] == [
        (NAGANO_7, ["rain"])]


async def test_invisible_histories_are_not_found_in_every_representation(
        world: World, digest: Digest) -> None:
    await seed(world)
    await digest.seal()
    ueda = world.auth("ueda")
    for params in ({}, {"lastN": "1"}, {"options": "temporalValues"}, AGGR,
                   {"timerel": "after", "timeAt": "2026-11-02T00:00:00Z"},
                   {"timeproperty": "createdAt", "timerel": "before", "timeAt": LATER}):
        hidden = await world.http.get(f"{T}/{NAGANO_7}", params=params, headers=ueda)
        missing = await world.http.get(f"{T}/urn:ngsi-ld:Gauge:ueda-404", params=params,
                                       headers=ueda)
        assert await problem(hidden) == await problem(missing), params
        assert hidden.status == 404
    for params in ({"type": "Gauge"}, {"type": "Gauge", **AGGR},
                   {"type": "Gauge", "lastN": "1", "count": "true"}):
        resp = await world.http.get(T, params=params, headers=ueda)
        assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:Gauge:ueda-7"], params
        if "count" in params:
            assert resp.headers["NGSILD-Results-Count"] == "1"
    query = {"type": "Query", "entities": [{"type": "Gauge"}]}
    resp = await world.http.post(Q, json=query, headers=world.auth("ueda", **JSON))
    assert [e["id"] for e in await resp.json()] == ["urn:ngsi-ld:Gauge:ueda-7"]
    resp = await world.http.get(f"{T}/{NAGANO_7}", params={"lastN": "1"})  # anonymous
    assert resp.status in (401, 404)


async def test_aggregated_only_grants_give_no_temporal_aggregates(
        world: World, digest: Digest) -> None:
    """A temporal aggregate is one entity's figure: one contributing member, below any
    minimum group size, so aggregated-only data stays invisible here too."""
    await seed(world)
    await world.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                       "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                       "granularity": "aggregated", "min_group_size": 2}, "firm")
    await digest.seal()
    firm = world.auth("firm")
    for params in (AGGR, {"lastN": "1"}, {**AGGR, "attrs": "rain"}):
        resp = await world.http.get(f"{T}/{NAGANO_7}", params=params, headers=firm)
        assert resp.status == 404, params
        resp = await world.http.get(T, params={"type": "Gauge", **params}, headers=firm)
        assert resp.status == 200 and await resp.json() == [], params
