"""Hosted @contexts have an owner: only it deletes or reloads them, and a deletion reaches
every hub process on the database (NOTIFY renkei_contexts), not just the one it was sent to."""

from __future__ import annotations

import asyncio

from hub import keys
from tests.integration.authz_world import BASE, JSON
from tests.security.conftest import Digest
from tests.security.egress_world import CONTEXT, enforcing_world, link

GAUGES = BASE + "/entities?type=Gauge"


async def test_another_organisation_cannot_delete_a_hosted_context(database_url: str) -> None:
    async with enforcing_world(database_url) as w:
        resp = await w.http.post(BASE + "/jsonldContexts", json=CONTEXT,
                                 headers=w.auth("ueda", **JSON))
        assert resp.status == 201, await resp.text()
        path = resp.headers["Location"]
        digest = Digest(database_url)
        await digest.seal()
        for query in ("", "?reload=true"):
            refused = await w.http.delete(path + query, headers=w.auth("nagano"))
            assert refused.status == 403, await refused.text()
            assert "owner" in (await refused.json())["detail"]
        anonymous = await w.http.delete(path)
        assert anonymous.status == 401
        served = await w.http.get(path)
        assert served.status == 200 and await served.json() == CONTEXT
        await digest.check()


async def test_owner_deletion_reaches_a_second_hub_process(database_url: str) -> None:
    async with enforcing_world(database_url) as one:
        resp = await one.http.post(BASE + "/jsonldContexts", json=CONTEXT,
                                   headers=one.auth("ueda", **JSON))
        assert resp.status == 201, await resp.text()
        path = resp.headers["Location"]
        async with enforcing_world(database_url, reset=False) as two:
            # the second process uses the context, so it holds it in memory
            used = await two.http.get(GAUGES, headers=two.auth("nagano", **link(path)))
            assert used.status == 200, await used.text()
            store = two.http.app[keys.CONTEXTS]
            assert store.memory_usage[0] == 1
            for _ in range(50):  # its listener is up once it has connected
                if store._listening:
                    break
                await asyncio.sleep(0.05)
            deleted = await one.http.delete(path, headers=one.auth("ueda"))
            assert deleted.status == 204, await deleted.text()
            for _ in range(50):
                if store.memory_usage[0] == 0:
                    break
                await asyncio.sleep(0.05)
            assert store.memory_usage == (0, 0)
            assert len(two.http.app[keys.CONTEXT_CACHE]) == 0
            gone = await two.http.get(path)
            assert gone.status == 404
            # the second process no longer resolves the deleted context from memory: it
            # would have to fetch the URL again, which the egress policy refuses (loopback)
            stale = await two.http.get(GAUGES, headers=two.auth("nagano", **link(path)))
            assert stale.status == 503, await stale.text()
