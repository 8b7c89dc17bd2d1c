"""Aggregate queries (/ngsi-ld/ex/v1/aggregates): how aggregated-only grants are used.

Ueda's library loans are a personal-data dataset, so a firm can only ever be granted them
aggregated, with a minimum group size; it then sees groups of at least that size and
their sums and averages, and never an entity.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.authz_world import BASE, JSON, LOANS, World, world

__all__ = ["world"]

AGG = "/ngsi-ld/ex/v1/aggregates"
LATER = "2099-01-01T00:00:00Z"
BRANCH_LOANS = {"A": [3, 5, 7, 9], "B": [2, 4], "C": [6]}
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


def loan(n: int, branch: str, loans: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Loans:ueda-b{n}", "type": "Loans",
            "branch": {"type": "Property", "value": branch},
            "loans": {"type": "Property", "value": loans}}


@pytest.fixture
async def libs(world: World) -> World:
    n = 0
    for branch, values in BRANCH_LOANS.items():
        for v in values:
            n += 1
            resp = await world.http.post(BASE + "/entities", json=loan(n, branch, v),
                                         headers=world.auth("ueda", **JSON))
            assert resp.status == 201, await resp.text()
    return world


async def aggregated_grant(w: World, **extra: Any) -> None:
    await w.grant({"dataset": "ueda-loans", "actions": ["read"], "purpose": "flood-app",
                   "valid_from": "2026-01-01T00:00:00Z", "valid_until": LATER,
                   "granularity": "aggregated", "min_group_size": 3, **extra}, "firm")


async def ask(w: World, who: str, query: str) -> tuple[int, Any]:
    resp = await w.http.get(f"{AGG}?{query}", headers=w.auth(who))
    return resp.status, await resp.json()


async def test_an_aggregated_grant_shows_groups_of_the_minimum_size_only(libs: World) -> None:
    await aggregated_grant(libs)
    status, body = await ask(libs, "firm", "type=Loans&groupBy=branch&attrs=loans"
                                           "&aggrMethods=sum,avg")
    assert status == 200, body
    assert body["minGroupSize"] == 3
    assert body["groups"] == [{"branch": "A", "totalCount": 4,
                               "loans": {"sum": 24.0, "avg": 6.0}}]
    # and still never a raw entity
    resp = await libs.http.get(BASE + "/entities?type=Loans", headers=libs.auth("firm"))
    assert resp.status == 200 and await resp.json() == []
    resp = await libs.http.get(BASE + "/entities/urn:ngsi-ld:Loans:ueda-b1",
                               headers=libs.auth("firm"))
    assert resp.status == 404


async def test_a_filter_cannot_narrow_a_group_below_the_minimum(libs: World) -> None:
    await aggregated_grant(libs)
    _, body = await ask(libs, "firm", "type=Loans&q=loans>4&attrs=loans&aggrMethods=sum")
    assert body["groups"] == [{"totalCount": 4, "loans": {"sum": 27.0}}]  # 5, 6, 7, 9
    _, body = await ask(libs, "firm", "type=Loans&q=loans>7&attrs=loans&aggrMethods=sum")
    assert body["groups"] == []  # one entity (9) would be shown: left out


async def test_min_and_max_are_refused_on_aggregated_only_data(libs: World) -> None:
    await aggregated_grant(libs)
    status, body = await ask(libs, "firm", "type=Loans&attrs=loans&aggrMethods=max")
    assert status == 403 and body["status"] == 403, body
    assert "min and max" in body["detail"]


async def test_the_owner_sees_every_group_and_every_method(libs: World) -> None:
    status, body = await ask(libs, "ueda", "type=Loans&groupBy=branch&attrs=loans"
                                           "&aggrMethods=min,max,sum")
    assert status == 200, body
    assert body["minGroupSize"] is None
    got = {g.get("branch"): (g["totalCount"], g["loans"]) for g in body["groups"]}
    assert got["A"] == (4, {"min": 3.0, "max": 9.0, "sum": 24.0})
    assert got["B"] == (2, {"min": 2.0, "max": 4.0, "sum": 6.0})
    assert got["C"] == (1, {"min": 6.0, "max": 6.0, "sum": 6.0})
    assert got[None][0] == 1  # the world's loans entity has no branch


async def test_without_a_grant_or_on_an_ungranted_attribute_nothing(libs: World) -> None:
    _, body = await ask(libs, "firm", "type=Loans&groupBy=branch")
    assert body["groups"] == []
    await aggregated_grant(libs, attributes=[LOANS.rsplit("/", 1)[0] + "/loans"])
    _, body = await ask(libs, "firm", "type=Loans&attrs=loans&aggrMethods=sum")
    assert body["groups"] == [{"totalCount": 8, "loans": {"sum": 36.0}}]
    _, body = await ask(libs, "firm", "type=Loans&groupBy=branch")  # branch not granted
    assert body["groups"] == []


@pytest.mark.parametrize(("query", "status", "error"), [
    ("groupBy=branch", 400, "BadRequestData"),
    ("type=Loans&aggrMethods=median&attrs=loans", 400, "BadRequestData"),
    ("type=Loans&attrs=loans", 400, "BadRequestData"),
    ("type=Loans&groupBy=a,b,c,d", 400, "BadRequestData"),
    ("type=Loans&groupBy=bad%20name", 400, "BadRequestData"),
    ("type=Loans&q=loans>>1", 400, "InvalidRequest"),
    ("type=Loans&sort=x", 400, "InvalidRequest"),
])
async def test_bad_aggregate_queries(libs: World, query: str, status: int, error: str) -> None:
    got, body = await ask(libs, "ueda", query)
    assert got == status and body["type"] == ERRORS + error, body


async def test_anonymous_callers_aggregate_open_data_only(libs: World) -> None:
    resp = await libs.http.get(f"{AGG}?type=Loans")
    assert (await resp.json())["groups"] == [{"totalCount": 0}]  # one group, of none
    resp = await libs.http.get(f"{AGG}?type=River")
    assert (await resp.json())["groups"] == [{"totalCount": 1}]
