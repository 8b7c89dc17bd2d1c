"""History recorded by writes is behind the same boundary as the entity (issue #16).

The history of an entity is written by the entity's own write and owned by the entity's
dataset: nobody beyond the grants reads it, a grant limited to attributes limits history
too, another owner's write cannot add to it or change it, and a temporal entity
pre-claimed by someone else never receives the entity owner's readings.
"""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, RAIN, World
from tests.security.conftest import Digest

T = BASE + "/temporal/entities"
NAGANO_GAUGE = "urn:ngsi-ld:Gauge:nagano-0"
LATER = "2099-01-01T00:00:00Z"


def observed(rain: float, hour: int) -> dict[str, Any]:
    at = f"2026-11-22T{hour:02d}:00:00Z"
    return {"rain": {"type": "Property", "value": rain, "observedAt": at},
            "battery": {"type": "Property", "value": 70.0 + hour, "observedAt": at}}


async def readings(w: World, eid: str) -> int:
    return await w.count("SELECT count(*) FROM ngsild.temporal_instances WHERE entity_id = $1",
                         eid)


async def record(w: World) -> None:
    """Set-up: Nagano's gauge reports three times; each write records its history."""
    for hour, rain in enumerate((1.0, 2.0, 4.0)):
        resp = await w.http.patch(f"{BASE}/entities/{NAGANO_GAUGE}/attrs",
                                  json=observed(rain, hour), headers=w.auth("nagano", **JSON))
        assert resp.status == 204, await resp.text()
    assert await readings(w, NAGANO_GAUGE) == 6


async def test_history_is_not_read_beyond_grants(w: World, digest: Digest) -> None:
    await record(w)
    await digest.seal()
    for who in ("firm", "ueda"):
        resp = await w.http.get(f"{T}/{NAGANO_GAUGE}", headers=w.auth(who))
        assert resp.status == 404, (who, await resp.text())
        resp = await w.http.get(f"{T}?type=Gauge", headers=w.auth(who))
        assert resp.status == 200
        assert NAGANO_GAUGE not in [e["id"] for e in await resp.json()]
        resp = await w.http.get(f"{T}?id={NAGANO_GAUGE}&attrs=rain", headers=w.auth(who))
        assert resp.status == 200 and await resp.json() == []
    resp = await w.http.get(f"{T}/{NAGANO_GAUGE}")  # anonymous
    assert resp.status in (401, 404)
    # the owner sees its whole history
    body = await (await w.http.get(f"{T}/{NAGANO_GAUGE}", headers=w.auth("nagano"))).json()
    assert [i["value"] for i in body["rain"]] == [1.0, 2.0, 4.0]


async def test_a_grant_on_some_attributes_limits_history(w: World, digest: Digest) -> None:
    await record(w)
    await w.grant({"dataset": "nagano-rain", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                   "attributes": [RAIN]}, "firm")
    await w.refresh()
    await digest.seal()
    resp = await w.http.get(f"{T}/{NAGANO_GAUGE}", headers=w.auth("firm"))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert [i["value"] for i in body["rain"]] == [1.0, 2.0, 4.0]
    assert "battery" not in body
    resp = await w.http.get(f"{T}?type=Gauge&attrs=battery", headers=w.auth("firm"))
    assert all("battery" not in e for e in await resp.json())


async def test_another_owner_cannot_add_or_change_history(w: World, digest: Digest) -> None:
    await record(w)
    await digest.seal()
    # through the entity API: Ueda's observation of Nagano's gauge is refused ...
    resp = await w.http.patch(f"{BASE}/entities/{NAGANO_GAUGE}/attrs", json=observed(99.0, 5),
                              headers=w.auth("ueda", **JSON))
    assert resp.status in (403, 404)
    resp = await w.http.post(f"{BASE}/entityOperations/upsert", headers=w.auth("ueda", **JSON),
                             json=[{"id": NAGANO_GAUGE, "type": "Gauge", **observed(99.0, 6)}])
    assert resp.status in (207, 400, 403, 404)
    # ... and through the temporal API
    resp = await w.http.post(f"{T}/{NAGANO_GAUGE}/attrs", json=observed(99.0, 7),
                             headers=w.auth("ueda", **JSON))
    assert resp.status in (403, 404)
    resp = await w.http.delete(f"{T}/{NAGANO_GAUGE}", headers=w.auth("ueda"))
    assert resp.status in (403, 404)
    assert await readings(w, NAGANO_GAUGE) == 6  # the digest checks every column at the end


async def test_a_pre_claimed_history_never_receives_the_owners_readings(
        w: World, digest: Digest) -> None:
    """One id, two owners by type (Gauge -> ueda-rain by prefix, River -> nagano-rivers):
    Ueda starts a temporal representation first, then Nagano writes the entity. Nagano's
    readings must not land in Ueda's history (Ueda would read them)."""
    eid = "urn:ngsi-ld:Gauge:ueda-9"
    mine = {"id": eid, "type": "Gauge",
            "rain": {"type": "Property", "value": 0.5, "observedAt": "2026-11-01T00:00:00Z"}}
    resp = await w.http.post(T, json=mine, headers=w.auth("ueda", **JSON))
    assert resp.status == 201, await resp.text()
    river = {"id": eid, "type": "River",
             "level": {"type": "Property", "value": 3.1, "observedAt": "2026-11-22T00:00:00Z"}}
    resp = await w.http.post(f"{BASE}/entities", json=river, headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()  # the entity id was free: a fair write
    resp = await w.http.patch(f"{BASE}/entities/{eid}/attrs", headers=w.auth(
        "nagano", **JSON), json={"level": {"type": "Property", "value": 3.4,
                                           "observedAt": "2026-11-22T01:00:00Z"}})
    assert resp.status == 204, await resp.text()
    await digest.seal()  # what follows only reads
    assert await readings(w, eid) == 1  # Ueda's own instance, nothing of Nagano's
    body = await (await w.http.get(f"{T}/{eid}", headers=w.auth("ueda"))).json()
    assert "level" not in body and [i["value"] for i in body["rain"]] == [0.5]
