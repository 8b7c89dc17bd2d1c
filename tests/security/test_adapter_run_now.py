"""``POST /registry/v1/adapters/{id}/run-now`` makes the adapter worker run a registration
with its stored credentials: only its owner (or the operator) with a ``manage`` token may
ask, and a refused request changes nothing stored."""

from __future__ import annotations

import asyncpg

from tests.integration.authz_world import JSON, World
from tests.security.conftest import Digest

REG = "/registry/v1"
ADAPTER = "nagano-gauges"


async def _requested(w: World) -> object:
    con = await asyncpg.connect(w.url)
    try:
        return await con.fetchval(
            "SELECT run_requested_at FROM registry.adapters WHERE id = $1", ADAPTER)
    finally:
        await con.close()


async def test_only_the_owner_may_ask_for_a_run_now(w: World, digest: Digest) -> None:
    owner = w.auth("nagano-admin", **JSON)
    resp = await w.http.put(f"{REG}/adapters/{ADAPTER}", headers=owner, json={
        "dataset": "nagano-rain", "adapter": "library-loans", "schedule": "PT10M",
        "config": {"source": "https://example.jp/loans.csv",
                   "token": {"env": "NAGANO_TOKEN"}}})
    assert resp.status == 201, await resp.text()
    await digest.seal()
    url = f"{REG}/adapters/{ADAPTER}/run-now"
    assert (await w.http.post(url)).status == 401  # anonymous
    assert (await w.http.post(url, headers=w.auth("firm"))).status == 403  # no manage scope
    other = await w.http.post(url, headers=w.auth("ueda-admin"))  # another organisation
    assert other.status == 404, await other.text()
    missing = await w.http.post(f"{REG}/adapters/nope/run-now", headers=owner)
    assert missing.status == 404
    await digest.check()
    assert await _requested(w) is None
    ok = await w.http.post(url, headers=owner)
    assert ok.status == 202, await ok.text()
    assert await _requested(w) is not None
    await digest.seal()
