"""``GET /metrics`` (hub/api/metrics.py): the federation's counters as an operator sees
them, and nobody else.

A source that refuses connections is asked through a query: the call and its failure
must show in the counters, and after the breaker's threshold the open circuit and the
skipped calls too. In enforcing mode only the configured operator reads them.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient

from hub.federation.forward import federation_of
from tests.integration.authz_world import World, world

__all__ = ["world"]

BASE = "/ngsi-ld/v1"


def _parse(text: str) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def _metrics(client: TestClient) -> dict[str, float]:
    resp = await client.get("/metrics")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return _parse(await resp.text())


async def test_failures_open_circuits_and_skips_are_counted(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    before = await _metrics(client)
    assert before["renkei_federation_open_circuits"] == 0
    assert before["renkei_db_pool_connections"] >= 1
    body = {"type": "ContextSourceRegistration", "endpoint": "http://127.0.0.1:9",
            "information": [{"entities": [{"type": "Sensor"}]}]}
    resp = await client.post(BASE + "/csourceRegistrations", json=body)
    assert resp.status == 201, await resp.text()
    threshold = federation_of(client.app).breakers.failures
    with caplog.at_level(logging.WARNING, logger="renkei.federation"):
        for _ in range(threshold + 2):  # threshold failures, then two skipped calls
            resp = await client.get(BASE + "/entities", params={"type": "Sensor"})
            assert resp.status == 200 and "NGSILD-Warning" in resp.headers
    after = await _metrics(client)
    assert after["renkei_federation_source_calls_total"] - before[
        "renkei_federation_source_calls_total"] == threshold
    assert after["renkei_federation_source_failures_total"] - before[
        "renkei_federation_source_failures_total"] == threshold
    assert after["renkei_federation_source_skipped_total"] - before[
        "renkei_federation_source_skipped_total"] == 2
    assert after["renkei_federation_open_circuits"] == 1
    opened = [r for r in caplog.records if "circuit open" in r.getMessage()]
    assert len(opened) == 1  # logged once per outage, not once per failed call


async def test_only_the_operator_reads_the_metrics(world: World) -> None:
    w = world
    assert (await w.http.get("/metrics")).status == 401
    for who in ("nagano-admin", "firm-admin", "nagano"):
        resp = await w.http.get("/metrics", headers=w.auth(who))
        assert resp.status == 403, (who, resp.status)
    resp = await w.http.get("/metrics", headers=w.auth("pref"))
    assert resp.status == 200, await resp.text()
    assert "renkei_federation_source_calls_total" in await resp.text()
