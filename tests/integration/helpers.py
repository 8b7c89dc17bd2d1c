"""Small helpers for API tests: JSON headers and problem-details assertions."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import ClientResponse

from hub.db.migrations import apply_tenant
from hub.db.tenants import DEFAULT_SCHEMA
from hub.query.values import index_rows

JSON = {"Content-Type": "application/json"}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


async def assert_problem(resp: ClientResponse, status: int, kind: str) -> dict[str, Any]:
    body = await resp.json(content_type=None)
    assert resp.status == status, body
    assert resp.content_type == "application/json"
    assert body["type"] == ERR + kind, body
    assert body["status"] == status
    assert isinstance(body.get("title"), str) and isinstance(body.get("detail"), str)
    return body


def gauge(n: int, mm: float = 1.0, lon: float = 138.19, lat: float = 36.65) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:WeatherObserved:g{n}",
        "type": "WeatherObserved",
        "precipitation": {"type": "Property", "value": mm, "unitCode": "MMT"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [lon, lat]}},
    }


async def stored_index_rows(
    con: asyncpg.Connection,
) -> tuple[dict[int, Any], dict[int, list[Any]]]:
    """Every entity's stored ``attrs`` and its ``entity_values`` rows (sorted), by pk: what
    the index-row agreement and back-fill tests compare with ``values.index_rows``."""
    attrs = {r["pk"]: r["attrs"] for r in await con.fetch(
        "SELECT pk, attrs FROM ngsild.entities")}
    rows: dict[int, list[Any]] = {pk: [] for pk in attrs}
    for r in await con.fetch("SELECT eid, attr, num, txt FROM ngsild.entity_values"):
        rows[r["eid"]].append((r["attr"], r["num"], r["txt"]))
    return attrs, {pk: sorted(r, key=repr) for pk, r in rows.items()}


async def rerun_migrations(con: asyncpg.Connection, *versions: str) -> int:
    """Apply the default tenant's migrations ``versions`` again (forgetting they ran): the
    back-fill tests run a migration over entities whose rows they took away."""
    await con.execute("DELETE FROM renkei.migrations WHERE scope = $1"
                      " AND version = ANY($2::text[])", "tenant:" + DEFAULT_SCHEMA,
                      list(versions))
    return await apply_tenant(con, DEFAULT_SCHEMA)


async def unmarked(con: asyncpg.Connection) -> tuple[dict[int, Any], dict[int, list[Any]]]:
    """``stored_index_rows``, checked against ``values.index_rows`` for every entity, and
    then every marker row deleted: entities as a hub before the markers stored them."""
    stored = await stored_index_rows(con)
    for pk, attrs in stored[0].items():
        assert stored[1][pk] == sorted(index_rows(attrs), key=repr), pk
    await con.execute("DELETE FROM ngsild.entity_values WHERE num IS NULL AND txt IS NULL")
    return stored


async def backfill_restores(con: asyncpg.Connection, migration: str,
                            marked: set[tuple[int, str]], rest: tuple[str, ...],
                            stored: tuple[dict[int, Any], dict[int, list[Any]]]) -> None:
    """Run a marker back-fill ``migration`` over entities whose marker rows were taken
    away: it changes no attribute, writes exactly the markers ``marked`` ((pk, attr)) and
    resets exactly those entities' fingerprints; the ``rest`` migrations then bring back
    every row ``stored`` held (``stored_index_rows`` before), and a second run of
    ``migration`` adds nothing and resets nothing."""
    await con.execute("UPDATE ngsild.entities SET index_fp = '\\x00'::bytea")
    assert await rerun_migrations(con, migration) == 1
    attrs, rows = await stored_index_rows(con)
    assert attrs == stored[0]  # nothing stored is lost or changed
    assert {(pk, x[0]) for pk, rs in rows.items() for x in rs
            if x[1] is None and x[2] is None} == marked
    assert {r["pk"] for r in await con.fetch(
        "SELECT pk FROM ngsild.entities WHERE index_fp IS NULL")} == {pk for pk, _ in marked}
    assert await rerun_migrations(con, *rest) == len(rest)
    assert await stored_index_rows(con) == stored  # index_rows for every entity again
    await con.execute("UPDATE ngsild.entities SET index_fp = '\\x00'::bytea")
    assert await rerun_migrations(con, migration) == 1  # again: nothing to add
    assert await stored_index_rows(con) == stored
    assert await con.fetchval("SELECT count(*) FROM ngsild.entities"
                              " WHERE index_fp IS NULL") == 0


async def until_waiting(con: asyncpg.Connection, what: str) -> None:
    """Return once some backend waits for a lock (``pg_locks``), polled every 10 ms for
    up to 5 s: the tests that hold a transaction open make sure the statement they race
    has reached it before they commit. ``what`` names that statement in the failure."""
    for _ in range(500):
        if await con.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never waited")
