"""Small helpers for API tests: JSON headers and problem-details assertions."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import ClientResponse

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


async def until_waiting(con: asyncpg.Connection, what: str) -> None:
    """Return once some backend waits for a lock (``pg_locks``), polled every 10 ms for
    up to 5 s: the tests that hold a transaction open make sure the statement they race
    has reached it before they commit. ``what`` names that statement in the failure."""
    for _ in range(500):
        if await con.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never waited")
