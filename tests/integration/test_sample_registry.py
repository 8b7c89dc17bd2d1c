"""The quick start's sample data registers 長野県 and its cities and datasets that own every
sample entity, with enforcement on; starting again changes nothing."""

from __future__ import annotations

from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
from hub.settings import Settings
from registry import is_local_government_code
from tests.conftest import reset_database
from tests.integration.registry_helpers import HUB, REG


async def _snapshot(c: TestClient) -> tuple[list, list, list]:
    orgs = await (await c.get(f"{REG}/organisations")).json()
    datasets = await (await c.get(f"{REG}/datasets")).json()
    ents = await (await c.get(f"{HUB}/entities", params={"local": "true", "limit": "100",
                                                          "options": "sysAttrs"})).json()
    return orgs, datasets, ents


async def test_sample_data_is_owned_and_idempotent(settings: Settings) -> None:
    assert settings.database_url
    await reset_database(settings.database_url)
    sample = replace(settings, sample_data=True)
    snapshots = []
    for _ in range(2):
        async with TestClient(TestServer(create_app(sample))) as c:
            snapshots.append(await _snapshot(c))
    (orgs, datasets, ents), again = snapshots
    assert again == snapshots[0]
    by_id = {o["id"]: o for o in orgs}
    for code, name, kind in [("200000", "長野県", "prefecture"), ("202011", "長野市",
                              "municipality"), ("202029", "松本市", "municipality"),
                             ("202037", "上田市", "municipality")]:
        assert is_local_government_code(code)
        assert by_id[code]["name"]["ja"] == name and by_id[code]["kind"] == kind
    assert len(ents) >= 6
    owned = {e["id"]: e["refDataset"]["object"] for e in ents}
    assert owned["urn:ngsi-ld:WeatherObserved:jp-20-nagano"] == \
        "urn:ngsi-ld:Dataset:nagano-pref-weather"
    assert owned["urn:ngsi-ld:WaterObserved:jp-20-chikumagawa-kuiseke"] == \
        "urn:ngsi-ld:Dataset:nagano-pref-rivers"
    assert all(e["dataProvider"]["value"] == "200000" for e in ents)
    assert {d["id"] for d in datasets} >= {"nagano-pref-weather", "nagano-city-rain-gauges",
                                           "ueda-city-library"}
