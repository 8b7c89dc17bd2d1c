"""Aggregated-only grants count the members that contribute a value (issue #12, class 4).

A group of three entities of which only one has the measured attribute passed a minimum
group size of three, and its sum was that one member's value. Now each measured
attribute's figures need the minimum number of contributing members, or are withheld
(null); min and max stay refused. Nothing stored changes (the digest, sealed after set-up).
"""

from __future__ import annotations

from typing import Any

from tests.integration.authz_world import BASE, JSON, World
from tests.security.conftest import Digest

AGG = "/ngsi-ld/ex/v1/aggregates"
LATER = "2099-01-01T00:00:00Z"
SECRET_FINE = 4321


def loan(n: int, branch: str, fine: int | None) -> dict[str, Any]:
    ent: dict[str, Any] = {"id": f"urn:ngsi-ld:Loans:ueda-f{n}", "type": "Loans",
                           "branch": {"type": "Property", "value": branch},
                           "loans": {"type": "Property", "value": 1}}
    if fine is not None:
        ent["fine"] = {"type": "Property", "value": fine}
    return ent


async def set_up(w: World, digest: Digest) -> None:
    """Branch D: three members, one fined (the secret); branch E: three, all fined."""
    members = [("D", SECRET_FINE), ("D", None), ("D", None), ("E", 10), ("E", 20), ("E", 30)]
    for n, (branch, fine) in enumerate(members):
        resp = await w.http.post(BASE + "/entities", json=loan(n, branch, fine),
                                 headers=w.auth("ueda", **JSON))
        assert resp.status == 201, await resp.text()
    await w.grant({"dataset": "ueda-loans", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                   "granularity": "aggregated", "min_group_size": 3}, "firm")
    await digest.seal()


async def ask(w: World, who: str, query: str) -> tuple[int, Any]:
    resp = await w.http.get(f"{AGG}?{query}", headers=w.auth(who))
    return resp.status, await resp.json()


async def test_a_lone_contributor_is_not_revealed_by_its_group(w: World,
                                                               digest: Digest) -> None:
    await set_up(w, digest)
    status, body = await ask(w, "firm", "type=Loans&groupBy=branch&attrs=fine,loans"
                                        "&aggrMethods=sum,avg")
    assert status == 200, body
    assert str(SECRET_FINE) not in str(body)
    assert body["groups"] == [
        {"branch": "D", "totalCount": 3, "fine": {"sum": None, "avg": None},
         "loans": {"sum": 3.0, "avg": 1.0}},
        {"branch": "E", "totalCount": 3, "fine": {"sum": 60.0, "avg": 20.0},
         "loans": {"sum": 3.0, "avg": 1.0}},
    ]


async def test_a_filter_cannot_leave_one_contributor_in_a_group(w: World,
                                                                digest: Digest) -> None:
    await set_up(w, digest)
    # without groupBy: one group of the seven loans; fine has 4 contributors (>= 3)
    status, body = await ask(w, "firm", "type=Loans&attrs=fine&aggrMethods=sum")
    assert status == 200 and body["groups"] == [{"totalCount": 7,
                                                  "fine": {"sum": SECRET_FINE + 60.0}}]
    # narrowed to branch D by q: three members, one contributor -> withheld
    status, body = await ask(w, "firm", 'type=Loans&q=branch=="D"&attrs=fine&aggrMethods=sum')
    assert status == 200 and body["groups"] == [{"totalCount": 3, "fine": {"sum": None}}]


async def test_min_and_max_stay_refused_on_aggregated_only_data(w: World,
                                                                digest: Digest) -> None:
    await set_up(w, digest)
    for method in ("min", "max"):
        status, body = await ask(w, "firm", f"type=Loans&groupBy=branch&attrs=fine"
                                            f"&aggrMethods={method}")
        assert status == 403, body
        assert str(SECRET_FINE) not in str(body)


async def test_the_owner_still_sees_every_figure(w: World, digest: Digest) -> None:
    await set_up(w, digest)
    status, body = await ask(w, "ueda", "type=Loans&groupBy=branch&attrs=fine"
                                        "&aggrMethods=sum,max")
    assert status == 200 and body["minGroupSize"] is None
    d = next(g for g in body["groups"] if g["branch"] == "D")
    assert d["fine"] == {"sum": float(SECRET_FINE), "max": float(SECRET_FINE)}
