"""Dead letters are their subscription's organisation's alone: another organisation (or an
anonymous caller) can neither list nor replay them, and learns nothing of their existence
(404, exactly as for a missing subscription). Each refusal leaves every stored table as it
was, and the dead letter dead (the delivery queue itself is volatile in the digest)."""

from __future__ import annotations

import asyncpg

from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest, digest, world

__all__ = ["digest", "world"]

SUB = "urn:ngsi-ld:Subscription:nagano-dl"
DL = f"/ngsi-ld/ex/v1/subscriptions/{SUB}/deadLetters"
LETTER = "urn:ngsi-ld:Notification:dead-1"


async def _dead(w: World) -> int:
    return await w.count("SELECT count(*) FROM ngsild.notifications WHERE id = $1 AND dead",
                         LETTER)


async def test_only_the_owner_lists_and_replays_dead_letters(world: World,
                                                             digest: Digest) -> None:
    w = world
    body = {"id": SUB, "type": "Subscription", "entities": [{"type": "Gauge"}],
            "notification": {"endpoint": {"uri": "http://receiver.example/notify"}}}
    resp = await w.http.post(BASE + "/subscriptions", json=body, headers=w.auth("nagano", **JSON))
    assert resp.status == 201, await resp.text()
    con = await asyncpg.connect(w.url)
    try:  # a notification that exhausted its attempts
        await con.execute(
            "INSERT INTO ngsild.notifications (id, sub_id, payload, attempts, dead, last_error)"
            " VALUES ($1, $2, '{\"data\": []}', 12, true, 'HTTP 503')", LETTER, SUB)
    finally:
        await con.close()
    await digest.seal()

    for who in ("ueda", "firm"):  # other organisations with the subscribe scope
        resp = await w.http.get(DL, headers=w.auth(who))
        assert resp.status == 404, (who, await resp.text())
        resp = await w.http.post(DL + "/replay", headers=w.auth(who))
        assert resp.status == 404, (who, await resp.text())
        resp = await w.http.post(DL + "/replay", json={"ids": [LETTER]},
                                 headers=w.auth(who, **JSON))
        assert resp.status == 404, (who, await resp.text())
    assert (await w.http.get(DL)).status in (401, 403)  # anonymous
    assert (await w.http.post(DL + "/replay")).status in (401, 403)
    assert (await w.http.post(DL + "/replay", headers=w.auth("nagano-admin"))).status == 403
    assert await _dead(w) == 1
    await digest.check()

    # the positive control: the owner sees and replays it
    resp = await w.http.get(DL, headers=w.auth("nagano"))
    assert resp.status == 200
    assert [d["id"] for d in await resp.json()] == [LETTER]
    resp = await w.http.post(DL + "/replay", headers=w.auth("nagano"))
    assert (await resp.json()) == {"replayed": 1}
    assert await _dead(w) == 0
    await digest.seal()  # the replay is the owner's legitimate change
