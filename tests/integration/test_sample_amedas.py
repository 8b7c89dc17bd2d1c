"""The quick start's first query returns real Nagano rain-gauge readings: the sample data
holds the JMA AMeDAS snapshot as the adapter normalises it, validated against the contracts
and owned by the prefecture's weather dataset."""

from __future__ import annotations

from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from contracts import LINK_HEADER
from hub.app import create_app
from hub.settings import Settings
from tests.conftest import reset_database

HUB = "/ngsi-ld/v1"


async def test_sample_data_holds_real_amedas_readings(settings: Settings) -> None:
    assert settings.database_url
    await reset_database(settings.database_url)
    async with TestClient(TestServer(create_app(replace(settings, sample_data=True)))) as c:
        link = {"Link": LINK_HEADER}
        resp = await c.get(f"{HUB}/entities", headers=link, params={
            "type": "WeatherObserved", "q": 'precipitationPeriod=="PT1H"', "count": "true",
            "limit": "100", "options": "keyValues"})
        assert resp.status == 200, await resp.text()
        rows = await resp.json()
        assert int(resp.headers["NGSILD-Results-Count"]) == 45  # Nagano's stations
        nagano = [r for r in rows if r["id"].startswith(
            "urn:ngsi-ld:WeatherObserved:jma-amedas-48156:")]
        assert nagano and nagano[0]["name"] == "長野"
        assert all(r["quality"] in ("normal", "estimated", "questionable") for r in rows)
        assert all(r["refDataset"] == "urn:ngsi-ld:Dataset:nagano-pref-weather" for r in rows)
        devices = await c.get(f"{HUB}/entities", headers=link,
                              params={"type": "Device", "count": "true", "limit": "0"})
        assert devices.headers["NGSILD-Results-Count"] == "45"
