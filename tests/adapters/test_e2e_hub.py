"""Adapters into a real hub over HTTP (the ``client`` fixture: aiohttp server on PostgreSQL).

The adapters reach the hub only through its URL, exactly as from another machine: batch
upsert for entities, the registry's management API for the run's health.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from adapters.declarative import DeclarativeMapping
from adapters.jartic_traffic import JarticTrafficAdapter
from adapters.jma_amedas import AmedasAdapter
from adapters.library_loans import LibraryLoansAdapter
from adapters.mlit_water_level import MlitWaterLevelAdapter
from adapters.sdk import Adapter, HubSink, StateStore, run_adapter
from adapters.sdk.registry import RegistryClient
from contracts import LINK_HEADER
from tests.conftest import CATCH_ALL, TEST_PREFECTURE

EXAMPLES = Path(__file__).parents[2] / "adapters" / "examples"
HEADERS = {"Link": LINK_HEADER}


_WAKAYAMA = {"library": "wakayama-pref-main", "library_name": "和歌山県立図書館"}


def _adapters() -> list[Adapter]:
    ogawa = DeclarativeMapping.from_file(EXAMPLES / "ogawa_raingauge.toml")
    return [AmedasAdapter(options={"prefecture": "48"}), MlitWaterLevelAdapter(),
            JarticTrafficAdapter(), LibraryLoansAdapter(options=_WAKAYAMA), ogawa.adapter()]


async def _count(client: TestClient, etype: str) -> int:
    resp = await client.get("/ngsi-ld/v1/entities", headers=HEADERS,
                            params={"type": etype, "count": "true", "limit": "0"})
    assert resp.status == 200, await resp.text()
    return int(resp.headers["NGSILD-Results-Count"])


async def _all(client: TestClient, etype: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    offset = 0
    while True:
        resp = await client.get("/ngsi-ld/v1/entities", headers=HEADERS, params={
            "type": etype, "limit": "1000", "offset": str(offset), "options": "keyValues"})
        page = await resp.json()
        out.update({e["id"]: e for e in page})
        if len(page) < 1000:
            return out
        offset += 1000


class _DropsAfter(HubSink):
    """The real hub for ``ok`` requests, then a port nobody listens on: unreachable."""

    def __init__(self, base_url: str, ok: int, **kw: Any) -> None:
        super().__init__(base_url, retries=0, **kw)
        self.ok = ok

    async def _post(self, body: bytes) -> dict[str, str]:
        if self.ok == 0:
            self.url = "http://127.0.0.1:9/ngsi-ld/v1/entityOperations/upsert"
        self.ok -= 1
        return await super()._post(body)


async def test_every_adapter_lands_in_the_hub_and_reruns_never_duplicate(
        client: TestClient, tmp_path: Path) -> None:
    url = str(client.make_url("")).rstrip("/")
    store = StateStore(tmp_path / "state")
    expected: dict[str, set[str]] = {}
    async with HubSink(url, max_bytes=150_000) as sink:
        for adapter in _adapters():
            report = await run_adapter(adapter, sink, store, batch_size=500)
            assert report.status == "succeeded" and report.reconciles(), report
            for o in adapter.read():
                for e in getattr(o, "entities", []):
                    expected.setdefault(e["type"], set()).add(e["id"])
    for etype, ids in expected.items():
        assert set(await _all(client, etype)) == ids, etype
    before = {t: await _all(client, t) for t in expected}
    # again with the same state (nothing to send) and with no state (everything re-sent)
    async with HubSink(url, max_bytes=150_000) as sink:
        for fresh in (store, StateStore(tmp_path / "fresh")):
            for adapter in _adapters():
                report = await run_adapter(adapter, sink, fresh, batch_size=500)
                assert report.status == "succeeded" and report.reconciles()
                if fresh is store:
                    assert report.written == 0
    for etype in expected:
        assert await _count(client, etype) == len(expected[etype])
        assert await _all(client, etype) == before[etype]


async def test_hub_unreachable_mid_run_then_resumed_loses_and_duplicates_nothing(
        client: TestClient, tmp_path: Path) -> None:
    url = str(client.make_url("")).rstrip("/")
    store = StateStore(tmp_path)
    async with aiohttp.ClientSession() as session:
        registry = RegistryClient(url, session)
        await registry.register("mlit-teshio", CATCH_ALL, MlitWaterLevelAdapter.manifest)
        async with _DropsAfter(url, ok=3, max_bytes=150_000) as flaky:
            failed = await run_adapter(MlitWaterLevelAdapter(), flaky, store, batch_size=100)
        assert failed.status == "failed" and failed.unacknowledged > 0 and failed.reconciles()
        assert await registry.record_run("mlit-teshio", failed) == "recorded"
        partial = await _count(client, "WaterObserved")
        assert 0 < partial < 31 * 24
        async with HubSink(url, max_bytes=150_000) as sink:
            resumed = await run_adapter(MlitWaterLevelAdapter(), sink, store, batch_size=100)
        assert resumed.status == "succeeded" and resumed.reconciles()
        assert resumed.skip_reasons["already acknowledged in an earlier run"] == failed.written
        assert await registry.record_run("mlit-teshio", resumed) == "recorded"
        assert await _count(client, "WaterObserved") == 31 * 24
        water = await _all(client, "WaterObserved")
        assert water["urn:ngsi-ld:WaterObserved:mlit-301011281104010:20230201T0000"][
            "dateObserved"] == "2023-02-01T00:00:00+09:00"
        resp = await client.get("/registry/v1/adapters/mlit-teshio/runs")
        runs = await resp.json()
    assert [r["status"] for r in runs] == ["succeeded", "failed"]  # newest first
    assert runs[0]["counts"]["written"] + runs[0]["counts"]["skipped"] == runs[0]["counts"][
        "read"]
    assert runs[1]["errors"] and "unreachable" in runs[1]["errors"][0]


async def test_revised_provisional_values_overwrite_in_the_hub(client: TestClient,
                                                               tmp_path: Path) -> None:
    url = str(client.make_url("")).rstrip("/")
    store = StateStore(tmp_path)
    fixtures = Path(__file__).parent / "fixtures" / "mlit_water_level"
    async with HubSink(url, max_bytes=150_000) as sink:
        await run_adapter(MlitWaterLevelAdapter(fixtures / "mlit_flags_301011281104010_202301.dat"),
                          sink, store)
        key = "urn:ngsi-ld:WaterObserved:mlit-301011281104010:20230102T0400"
        assert (await _all(client, "WaterObserved"))[key]["quality"] == "provisional"
        # the confirmed month arrives: within the look-back window it replaces the old values
        report = await run_adapter(MlitWaterLevelAdapter(), sink, store)
        assert report.written == 31
    water = await _all(client, "WaterObserved")
    assert water[key]["quality"] == "normal" and water[key]["waterLevel"] == 321.51
    assert len(water) == 31 * 24


async def test_an_entity_no_dataset_owns_stops_the_run_and_resumes_after_the_fix(
        client: TestClient, tmp_path: Path) -> None:
    """No owning dataset is the registry's to fix, not the row's: the row and everything
    after it stay unacknowledged, and once the registry is fixed one re-run (same state,
    no reset) writes exactly the missing rows (issue #15)."""
    # the catch-all replaced by a dataset owning only the water levels: the Device is nobody's
    resp = await client.delete(f"/registry/v1/datasets/{CATCH_ALL}")
    assert resp.status == 204, await resp.text()
    resp = await client.post("/registry/v1/datasets", json={
        "id": "teshio-water", "owner": TEST_PREFECTURE, "name": {"ja": "天塩川 水位"},
        "rule": {"idPrefixes": ["urn:ngsi-ld:WaterObserved:mlit-"]}, "licence": "CC-BY-4.0",
        "updateFrequency": "hourly"})
    assert resp.status == 201, await resp.text()
    url = str(client.make_url("")).rstrip("/") + "/ngsi-ld/v1"  # accepted with the suffix
    store = StateStore(tmp_path)
    async with HubSink(url, max_bytes=150_000) as sink:
        report = await run_adapter(MlitWaterLevelAdapter(), sink, store, batch_size=100)
    assert report.status == "failed" and report.reconciles()
    # the Device rides on the first day row: that row and all read after it are pending
    assert report.quarantined == 0 and report.written == 0 and report.unacknowledged > 0
    assert store.load("mlit-water-level").position < 11
    assert "NoOwningDataset" in (report.error or "") and "register a dataset" in report.error
    assert store.quarantined("mlit-water-level") == []
    device = "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:mlit-301011281104010"
    assert (await client.get(device)).status == 404
    # the registry now gives the Device an owner; the same state, the same file
    resp = await client.post("/registry/v1/datasets", json={
        "id": "teshio-devices", "owner": TEST_PREFECTURE, "name": {"ja": "天塩川 観測所"},
        "rule": {"idPrefixes": ["urn:ngsi-ld:Device:mlit-"]}, "licence": "CC-BY-4.0",
        "updateFrequency": "irregular"})
    assert resp.status == 201, await resp.text()
    async with HubSink(url, max_bytes=150_000) as sink:
        fixed = await run_adapter(MlitWaterLevelAdapter(), sink, store, batch_size=100)
    assert fixed.status == "succeeded" and fixed.quarantined == 0
    # each day row counted written exactly once across the two runs
    assert report.written + fixed.written == 31 and fixed.skipped == 0
    assert await _count(client, "WaterObserved") == 31 * 24
    assert (await client.get(device)).status == 200


async def test_a_body_over_the_hub_limit_is_split_not_quarantined(client: TestClient,
                                                                  tmp_path: Path) -> None:
    url = str(client.make_url("")).rstrip("/")
    # the test hub accepts 200,000-byte bodies; the sink starts by sending ~1 MB ones
    async with HubSink(url, max_bytes=1_000_000) as sink:
        report = await run_adapter(AmedasAdapter(options={"prefecture": "4"}), sink,
                                   StateStore(tmp_path), batch_size=5000)
        assert sink.max_bytes < 200_000
    assert report.status == "partial" and report.written > 100 and report.quarantined > 0
    # the only quarantines are the snapshot's own (stations missing from the 2021 table)
    assert {q["reason"] for q in report.quarantine} <= {"station not in the station table"}
    assert await _count(client, "Device") == report.written
