"""An adapter authenticated as its organisation's client, with access control enforced."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from adapters.declarative import DeclarativeMapping
from adapters.sdk import HubSink, StateStore, run_adapter
from adapters.sdk.auth import client_credentials_token
from hub import keys
from registry import RegistryRepository
from registry.model import dataset_from_json
from tests.integration.authz_world import NAGANO, UEDA, World, world  # noqa: F401

EXAMPLE = Path(__file__).parents[2] / "adapters" / "examples" / "ogawa_raingauge.toml"


async def test_adapter_writes_as_its_organisation_and_others_are_refused(
        world: World, tmp_path: Path) -> None:  # noqa: F811
    # 小川村's gauges, registered here as a dataset of Nagano city for the test world
    app = world.http.server.app
    await RegistryRepository(app[keys.POOL]).save_dataset(dataset_from_json({
        "id": "ogawa-rain", "owner": NAGANO, "name": {"ja": "小川村 雨量"},
        "rule": {"idPrefixes": ["urn:ngsi-ld:WeatherObserved:ogawa-"]},
        "licence": "CC-BY-4.0", "updateFrequency": "hourly"}, lambda n: n))
    app[keys.REGISTRY_RULES].invalidate()
    owner = await world.new_client("ogawa-adapter", NAGANO, ["write"])
    stranger = await world.new_client("ueda-adapter", UEDA, ["write"])
    url = str(world.http.make_url("")).rstrip("/")
    mapping = DeclarativeMapping.from_file(EXAMPLE)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PermissionError):
            await client_credentials_token(session, url, owner["client_id"], "wrong")
        async with HubSink(url, token="not-a-token") as sink:
            unauthorised = await run_adapter(mapping.adapter(), sink, StateStore(tmp_path / "x"))
        # 401 is not the rows' fault: the run stops, nothing quarantined, no state saved
        assert unauthorised.status == "failed" and "401" in (unauthorised.error or "")
        assert unauthorised.quarantined == 0 and unauthorised.unacknowledged == 12
        assert not StateStore(tmp_path / "x").state_path("ogawa-raingauge").exists()
        token = await client_credentials_token(session, url, stranger["client_id"],
                                               stranger["client_secret"])
        async with HubSink(url, token=token) as sink:
            refused = await run_adapter(mapping.adapter(), sink, StateStore(tmp_path / "u"))
        # another organisation's dataset: a configuration refusal, not bad rows — nothing
        # quarantined, nothing settled, the message names the fix (issue #15)
        assert refused.status == "failed" and refused.reconciles()
        assert refused.written == 0 and refused.quarantined == 0
        assert refused.unacknowledged == 12
        assert "202037 may not write" in (refused.error or "")
        assert "client of the organisation that owns" in (refused.error or "")
        assert StateStore(tmp_path / "u").quarantined("ogawa-raingauge") == []
        token = await client_credentials_token(session, url, owner["client_id"],
                                               owner["client_secret"])
        # the same state directory after the fix: every row is still there to send
        async with HubSink(url, token=token) as sink:
            report = await run_adapter(mapping.adapter(), sink, StateStore(tmp_path / "u"))
        assert report.status == "succeeded" and report.written == 12
    await world.refresh()  # the access state learns of the new dataset
    resp = await world.http.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:WeatherObserved:ogawa-OG01-20230601T0100",
        headers=world.auth("nagano"))
    assert resp.status == 200, await resp.text()
