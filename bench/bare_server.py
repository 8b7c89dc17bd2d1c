"""The practical limit of this stack: a bare aiohttp + asyncpg server doing the hub's SQL.

It parses JSON and runs the very statements the hub runs (same tables, indexes and
write statement), but does no NGSI-LD validation, JSON-LD expansion or rendering. The
benchmark divides the hub's figures by this server's to show what the hub's own code costs.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import orjson
from aiohttp import web

from hub.db.migrations import apply_global, apply_tenant, quote_ident
from hub.db.pool import create_pool
from hub.heap import settled_heap
from hub.store import entities as store

SCHEMA = quote_ident("bare")
PREFIX = "https://uri.etsi.org/ngsi-ld/default-context/"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entity(raw: dict, now: str) -> dict:
    attrs = {}
    for k, v in raw.items():
        if k not in ("id", "type"):
            attrs[PREFIX + k] = [{**v, "createdAt": now, "modifiedAt": now}]
    return {"id": raw["id"], "types": [PREFIX + raw["type"]], "scopes": None, "attrs": attrs,
            "createdAt": now, "modifiedAt": now}


async def create(request: web.Request) -> web.Response:
    raw = orjson.loads(await request.read())
    async with request.app["pool"].acquire() as con:
        await store.write_entities(con, SCHEMA, [_entity(raw, _now())], create_only=True)
    return web.Response(status=201)


async def upsert(request: web.Request) -> web.Response:
    raw = orjson.loads(await request.read())
    now = _now()
    async with request.app["pool"].acquire() as con:
        await store.write_entities(con, SCHEMA, [_entity(e, now) for e in raw],
                                   create_only=False)
    return web.Response(status=204)


async def retrieve(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as con:
        ent = await store.fetch_entity(con, SCHEMA, request.match_info["id"])
    return web.Response(body=orjson.dumps(ent), content_type="application/json")


async def query(request: web.Request) -> web.Response:
    threshold = float(request.query["above"])
    flt = store.Filter()
    flt.add("e.types && {}::text[]", [PREFIX + request.query["type"]])
    flt.add(f"EXISTS (SELECT 1 FROM {SCHEMA}.entity_values v WHERE v.eid = e.pk"
            " AND v.attr = {} AND v.num > {})", PREFIX + "precipitation", threshold)
    flt.add("e.attrs @? {}::jsonpath",
            f'$."{PREFIX}precipitation"[*] ? (@.value > {threshold})')
    async with request.app["pool"].acquire() as con, con.transaction(
        isolation="repeatable_read", readonly=True
    ):
        rows = await store.fetch_entities(con, SCHEMA, flt, 20, 0)
    return web.Response(body=orjson.dumps(rows), content_type="application/json")


async def update_attr(request: web.Request) -> web.Response:
    raw = orjson.loads(await request.read())
    now = _now()
    async with request.app["pool"].acquire() as con, con.transaction():
        ent = await store.fetch_entity(con, SCHEMA, request.match_info["id"], for_update=True)
        assert ent is not None
        inst = ent["attrs"][PREFIX + request.match_info["attr"]][0]
        inst.update(raw)
        inst["modifiedAt"] = now
        ent["modifiedAt"] = now
        await store.write_entities(con, SCHEMA, [ent], create_only=False)
    return web.Response(status=204)


async def main(url: str, port: int) -> None:
    pool = await create_pool(url, 2, 10)
    async with pool.acquire() as con:
        await apply_global(con)
        await apply_tenant(con, "bare")
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["pool"] = pool
    app.cleanup_ctx.append(settled_heap)  # the hub's garbage-collector settings: same stack
    app.router.add_post("/entities", create)
    app.router.add_post("/upsert", upsert)
    app.router.add_get("/entities/{id}", retrieve)
    app.router.add_get("/query", query)
    app.router.add_patch("/entities/{id}/attrs/{attr}", update_attr)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.port))
