"""The flood watch against a real enforcing hub, as the prefecture's OAuth client.

Nagano city publishes 茂志利's recorded MLIT readings (one WaterObserved per hour, as the
MLIT adapter does), the station's FloodMonitoring (synthetic thresholds, see
fixtures/README.md) and two synthetic rain gauges; the prefecture reads them through
grants only (its default is set to deny), and a private firm is notified of the Alerts
the service writes into the prefecture's open dataset, through a real subscription.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import contracts as c
from hub import keys
from hub.app import create_app
from registry import RegistryRepository
from registry.model import dataset_from_json
from services.flood_watch import FloodWatch, HubClient, Settings, alert_id
from tests.integration.authz_world import (
    BASE,
    FIRM,
    NAGANO,
    PREF,
    World,
    enforced_settings,
    register,
    reset_authz,
)
from tests.integration.receiver import Receiver, receiver
from tests.services.mlit_dat import JST, STATION, hourly

__all__ = ["receiver"]

H = timedelta(hours=1)
DEVICE = f"urn:ngsi-ld:Device:mlit-{STATION}"
MONITORING = f"urn:ngsi-ld:FloodMonitoring:mlit-{STATION}"
MOSHIRI = (142.74028, 44.07472)  # 北緯 44度04分29秒 東経 142度44分25秒 (station metadata)
LINK = {"Link": c.LINK_HEADER, "Content-Type": "application/json"}
PURPOSE = "flood-watch"
DATASETS: list[dict[str, Any]] = [
    {"id": "nagano-water", "owner": NAGANO,
     "rule": {"entityTypes": [c.iri("WaterObserved"), c.iri("FloodMonitoring")]}},
    {"id": "nagano-weather", "owner": NAGANO,
     "rule": {"entityTypes": [c.iri("WeatherObserved")]}},
    {"id": "pref-flood-alerts", "owner": PREF, "openData": True,
     "rule": {"entityTypes": [c.iri("Alert")], "idPrefixes": ["urn:ngsi-ld:Alert:flood-watch:"]}},
]


def at(day: int, hour: int) -> datetime:
    return datetime(2023, 1, day, hour, tzinfo=JST)


@pytest.fixture
async def flood_world(database_url: str) -> AsyncIterator[World]:
    await reset_authz(database_url)
    app = create_app(enforced_settings(database_url, authz_prefecture_default="deny"))
    async with TestClient(TestServer(app)) as http:
        pool = app[keys.POOL]
        await register(pool)
        repo = RegistryRepository(pool)
        for ds in DATASETS:
            await repo.save_dataset(dataset_from_json(
                {"name": {"ja": ds["id"], "en": ds["id"]}, "licence": "CC-BY-4.0",
                 "updateFrequency": "hourly", **ds}, lambda n: n))
        app[keys.REGISTRY_RULES].invalidate()
        w = World(http, database_url)
        await w.login("nagano", NAGANO, ["read", "write", "subscribe"])
        await w.login("nagano-admin", NAGANO, ["manage"])
        await w.login("pref-admin", PREF, ["manage"])
        await w.login("firm", FIRM, ["read", "subscribe"], purpose="flood-app")
        await w.refresh()
        await _publish(w)
        yield w
    app[keys.TENANTS].forget()


def _readings() -> list[dict[str, Any]]:
    out = []
    for r in hourly():
        if at(26, 0) <= r.at <= at(30, 0):
            stamp = r.at.strftime("%Y%m%dT%H%M")
            out.append(c.to_ngsi_ld(c.WaterObserved(
                id=f"urn:ngsi-ld:WaterObserved:mlit-{STATION}:{stamp}", dateObserved=r.at,
                location=c.Point(coordinates=MOSHIRI), refDevice=DEVICE, name="茂志利",
                waterLevel=r.value, quality="provisional"), include_context=False))
    return out


def _rain() -> list[dict[str, Any]]:
    """Synthetic (labelled in ``name``): 4 mm/h near the station, hours ending 04時 to 09時 on the
    29th; a far gauge (about 50 km) with 50 mm/h that is outside the basin."""
    out = []
    for gauge, (lon, lat), mm in (("near", (142.77, 44.09), 4.0), ("far", (143.3, 44.3), 50.0)):
        for hour in range(4, 10):
            when = at(29, hour)
            out.append(c.to_ngsi_ld(c.WeatherObserved(
                id=f"urn:ngsi-ld:WeatherObserved:synthetic-{gauge}:{when:%Y%m%dT%H%M}",
                dateObserved=when, location=c.Point(coordinates=(lon, lat)),
                refDevice=f"urn:ngsi-ld:Device:synthetic-{gauge}",
                name=f"synthetic gauge ({gauge})", precipitation=mm,
                precipitationPeriod=timedelta(hours=1), quality="estimated"),
                include_context=False))
    return out


async def _publish(w: World) -> None:
    monitoring = c.to_ngsi_ld(c.FloodMonitoring(
        id=MONITORING, stationID=STATION, name="茂志利", refDevice=DEVICE,
        location=c.Point(coordinates=MOSHIRI), standbyLevel=321.90, alertLevel=322.10,
        evacuationDecisionLevel=322.25, dangerLevel=322.35), include_context=False)
    entities = [monitoring, *_readings(), *_rain()]
    for i in range(0, len(entities), 100):
        resp = await w.http.post(BASE + "/entityOperations/upsert", json=entities[i:i + 100],
                                 headers=w.auth("nagano", **LINK))
        assert resp.status in (201, 204), await resp.text()


async def _grant_prefecture(w: World) -> None:
    for dataset in ("nagano-water", "nagano-weather"):
        await w.grant({"dataset": dataset, "actions": ["read"], "purpose": PURPOSE,
                       "valid_from": "2020-01-01T00:00:00Z",
                       "valid_until": "2099-01-01T00:00:00Z"}, "pref")
    await w.refresh()


async def _subscribe(w: World, r: Receiver) -> None:
    w.allow_receiver(r.port)
    sub = {"type": "Subscription", "entities": [{"type": "Alert"}],
           "notification": {"endpoint": {"uri": r.url(), "accept": "application/json"}}}
    resp = await w.http.post(BASE + "/subscriptions", json=sub, headers=w.auth("firm", **LINK))
    assert resp.status == 201, await resp.text()


def _stages(r: Receiver) -> list[tuple[str, str]]:
    out = []
    for got in r.received:
        for entity in got.body["data"]:
            out.append((entity["levelObservedAt"]["value"], entity["floodStage"]["value"]))
    return out


async def test_alerts_notified_exactly_once_per_change_of_stage(
        flood_world: World, receiver: Receiver) -> None:
    w = flood_world
    base = str(w.http.make_url("")).rstrip("/")
    service = await w.new_client("flood-watch", PREF, ["read", "write"])
    async with aiohttp.ClientSession() as session:
        hub = HubClient(session, base, service["client_id"], service["client_secret"],
                        purpose=PURPOSE)
        watch = FloodWatch(hub, Settings(basin_radius_m=10_000))
        assert await watch.run_once(at(29, 9)) == []  # no grant yet: no station visible
        await _grant_prefecture(w)
        await _subscribe(w, receiver)

        written = []
        now = at(28, 0)
        while now <= at(30, 0):
            written += [(now, a.stage.name) for a in await watch.run_once(now)
                        if a.written and a.stage is not None]
            now += H
        expected = [(28, 8, "standby"), (28, 10, "normal"), (28, 20, "standby"),
                    (28, 21, "normal"), (29, 8, "warning"), (29, 9, "evacuation"),
                    (29, 10, "standby"), (29, 11, "normal"), (29, 19, "warning"),
                    (29, 20, "evacuation"), (29, 21, "normal")]
        assert [(t.day, t.hour, s) for t, s in written] == expected
        await receiver.wait_for(len(expected))

        # the same instant again, and a restarted service (its stage read back from the hub)
        assert not [a for a in await watch.run_once(at(30, 0)) if a.written]
        restarted = FloodWatch(hub, Settings(basin_radius_m=10_000))
        assert not [a for a in await restarted.run_once(at(30, 0)) if a.written]
        assert hub.tokens_fetched == 1  # one token, reused within its lifetime
    await asyncio.sleep(1.5)  # anything extra would have been delivered by now
    stages = _stages(receiver)
    assert [s for _, s in stages] == [s for *_, s in expected], stages
    assert len(receiver.received) == len(expected)

    evacuation = receiver.received[5].body["data"][0]
    assert evacuation["id"] == alert_id(STATION)
    assert evacuation["severity"]["value"] == "high"
    assert evacuation["subCategory"]["value"] == "flood"
    assert evacuation["waterLevel"]["value"] == 322.27
    assert evacuation["rise1h"]["value"] == pytest.approx(0.08)
    assert evacuation["rise3h"]["value"] == pytest.approx(322.27 - 321.56)
    # the near gauge's six hours of 4 mm; the far gauge's 50 mm/h are outside the basin
    assert evacuation["rainfall1h"]["value"] == 4.0
    assert evacuation["rainfall3h"]["value"] == 12.0
    assert evacuation["rainfall24h"]["value"] == 24.0
    assert evacuation["forecastModel"]["value"] == "daily-pattern"
    assert evacuation["refFloodMonitoring"]["object"] == MONITORING


async def test_the_service_cannot_write_outside_its_dataset(flood_world: World) -> None:
    """Its client is an ordinary partner client: an Alert id outside its dataset's rule,
    or Nagano's readings, are refused like anyone's."""
    w = flood_world
    base = str(w.http.make_url("")).rstrip("/")
    service = await w.new_client("flood-watch", PREF, ["read", "write"])
    async with aiohttp.ClientSession() as session:
        hub = HubClient(session, base, service["client_id"], service["client_secret"])
        original = _readings()[0]
        forged = original | {"waterLevel": {"type": "Property", "value": 0.0}}
        status, body = await hub.request("POST", BASE + "/entityOperations/upsert",
                                         json=[forged], ok=(207, 400, 403, 404, 409))
        assert status == 207 and not body["success"], body
        alien = {"id": "urn:ngsi-ld:Alert:elsewhere:1", "type": "Alert"}
        status, body = await hub.request("POST", BASE + "/entityOperations/upsert",
                                         json=[alien], ok=(207, 400, 403, 404, 409))
        assert status == 207 and not body["success"], body
    resp = await w.http.get(BASE + "/entities/" + original["id"],
                            params={"options": "keyValues", "attrs": "waterLevel"},
                            headers=w.auth("nagano", Link=c.LINK_HEADER))
    assert (await resp.json())["waterLevel"] == original["waterLevel"]["value"]
    assert await w.count("SELECT count(*) FROM ngsild.entities WHERE id = $1",
                         alien["id"]) == 0


async def test_levels_of_an_entity_updated_in_place_come_from_the_temporal_api(
        flood_world: World) -> None:
    """A source that keeps one entity per station and lets the hub hold its history: the
    rise and the forecast are computed from the temporal API's instances (posted here to
    /temporal/entities, what a hub without automatic recording offers), not from the one
    current value. The token is renewed before it expires."""
    w = flood_world
    device, eid = "urn:ngsi-ld:Device:inplace", "urn:ngsi-ld:WaterObserved:inplace"
    history = [r for r in hourly() if at(28, 0) <= r.at <= at(29, 9)]
    entities = [
        c.to_ngsi_ld(c.FloodMonitoring(
            id="urn:ngsi-ld:FloodMonitoring:inplace", stationID="inplace", refDevice=device,
            standbyLevel=321.90, alertLevel=322.10, evacuationDecisionLevel=322.25,
            dangerLevel=322.35), include_context=False),
        c.to_ngsi_ld(c.WaterObserved(
            id=eid, dateObserved=history[-1].at, location=c.Point(coordinates=MOSHIRI),
            refDevice=device, waterLevel=history[-1].value, quality="provisional"),
            include_context=False)]
    resp = await w.http.post(BASE + "/entityOperations/upsert", json=entities,
                             headers=w.auth("nagano", **LINK))
    assert resp.status in (201, 204), await resp.text()
    temporal = {"id": eid, "type": "WaterObserved", "waterLevel": [
        {"type": "Property", "value": r.value, "observedAt": r.at.isoformat()}
        for r in history]}
    resp = await w.http.post(BASE + "/temporal/entities", json=temporal,
                             headers=w.auth("nagano", **LINK))
    assert resp.status in (201, 204), await resp.text()
    await _grant_prefecture(w)

    base = str(w.http.make_url("")).rstrip("/")
    service = await w.new_client("flood-watch", PREF, ["read", "write"])
    clock = [0.0]
    async with aiohttp.ClientSession() as session:
        hub = HubClient(session, base, service["client_id"], service["client_secret"],
                        purpose=PURPOSE, clock=lambda: clock[0])
        found = {a.station.station_id: a
                 for a in await FloodWatch(hub).run_once(at(29, 9))}
        assert hub.tokens_fetched == 1
        clock[0] = 300 - 29  # a 300 s token, 29 s before it expires: renewed first
        await FloodWatch(hub).stations()
        assert hub.tokens_fetched == 2
    a = found["inplace"]
    assert (a.level, a.stage.name if a.stage else None) == (322.27, "evacuation")
    assert a.rise1h == pytest.approx(0.08) and a.rise3h == pytest.approx(0.71)
    assert a.forecast["1h"] == pytest.approx(322.27 + (321.85 - 321.98))  # 28th 09→10
    assert a.written
