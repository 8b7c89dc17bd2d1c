"""The practical limit of this stack: a bare aiohttp + asyncpg server doing the hub's SQL.

It parses JSON and runs the very statements the hub runs (same tables, indexes and
write statement), but does no NGSI-LD validation, JSON-LD expansion or rendering. The
benchmark divides the hub's figures by this server's to show what the hub's own code costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime

import orjson
from aiohttp import web

from hub.db.migrations import apply_global, apply_tenant, quote_ident
from hub.db.pool import create_pool
from hub.heap import settled_heap
from hub.store import entities as store

SCHEMA = quote_ident("bare")
#: the minimal layout (``/min`` routes, bench/workload13.py): one row per entity, the
#: primary key its only index, and for each call only the statement it needs — what the
#: storage costs PostgreSQL when nothing is indexed, recorded or fingerprinted
MIN = "bare_min"
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


async def update_attrs(request: web.Request) -> web.Response:
    """PATCH /entities/{id}/attrs through the hub's statements (hub/api/tx.py ``rewrite``):
    read with the row version, merge, write back that version; a lost race locks."""
    raw = orjson.loads(await request.read())
    now = _now()
    for locked in (False, True):
        async with request.app["pool"].acquire() as con, contextlib.AsyncExitStack() as tx:
            if locked:
                await tx.enter_async_context(con.transaction())
            ent = await store.fetch_entity(con, SCHEMA, request.match_info["id"],
                                           for_update=locked, versioned=not locked)
            assert ent is not None
            for k, v in raw.items():
                ent["attrs"][PREFIX + k] = [{**v, "createdAt": now, "modifiedAt": now}]
            ent["modifiedAt"] = now
            if await store.write_entities(con, SCHEMA, [ent], create_only=False,
                                          versioned=not locked):
                break
    return web.Response(status=204)


_MIN_DDL = f"""CREATE SCHEMA IF NOT EXISTS {MIN};
CREATE TABLE IF NOT EXISTS {MIN}.entities (id text PRIMARY KEY, type text NOT NULL,
  attrs jsonb NOT NULL, created_at timestamptz NOT NULL, modified_at timestamptz NOT NULL)"""


def _min_row(raw: dict) -> tuple[str, str, bytes]:
    attrs = {k: v for k, v in raw.items() if k not in ("id", "type")}
    return raw["id"], raw["type"], orjson.dumps(attrs)


async def min_create(request: web.Request) -> web.Response:
    i, t, a = _min_row(orjson.loads(await request.read()))
    async with request.app["pool"].acquire() as con:
        done = await con.fetchval(
            f"INSERT INTO {MIN}.entities VALUES ($1, $2, $3::text::jsonb, now(), now())"
            " ON CONFLICT (id) DO NOTHING RETURNING true", i, t, a.decode())
    return web.Response(status=201 if done else 409)


async def min_upsert(request: web.Request) -> web.Response:
    rows = [_min_row(e) for e in orjson.loads(await request.read())]
    async with request.app["pool"].acquire() as con:
        await con.execute(
            f"INSERT INTO {MIN}.entities SELECT i, t, a::jsonb, now(), now()"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS r(i, t, a)"
            " ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, attrs = EXCLUDED.attrs,"
            " modified_at = EXCLUDED.modified_at",
            [r[0] for r in rows], [r[1] for r in rows], [r[2].decode() for r in rows])
    return web.Response(status=204)


async def min_retrieve(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as con:
        row = await con.fetchrow(f"SELECT id, type, attrs::text FROM {MIN}.entities"
                                 " WHERE id = $1", request.match_info["id"])
    if row is None:
        return web.Response(status=404)
    attrs = orjson.loads(row["attrs"])
    return web.Response(body=orjson.dumps({"id": row["id"], "type": row["type"], **attrs}),
                        content_type="application/json")


async def min_update_attrs(request: web.Request) -> web.Response:
    raw = await request.read()
    orjson.loads(raw)  # parsed, as any server must
    async with request.app["pool"].acquire() as con:
        done = await con.fetchval(
            f"UPDATE {MIN}.entities SET attrs = attrs || $2::text::jsonb, modified_at = now()"
            " WHERE id = $1 RETURNING true", request.match_info["id"], raw.decode())
    return web.Response(status=204 if done else 404)


async def main(url: str, port: int) -> None:
    pool = await create_pool(url, 2, 10)
    async with pool.acquire() as con:
        await apply_global(con)
        await apply_tenant(con, "bare")
        await con.execute(_MIN_DDL)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["pool"] = pool
    app.cleanup_ctx.append(settled_heap)  # the hub's garbage-collector settings: same stack
    app.router.add_post("/entities", create)
    app.router.add_post("/upsert", upsert)
    app.router.add_get("/entities/{id}", retrieve)
    app.router.add_get("/query", query)
    app.router.add_patch("/entities/{id}/attrs/{attr}", update_attr)
    app.router.add_patch("/entities/{id}/attrs", update_attrs)
    app.router.add_post("/min/entities", min_create)
    app.router.add_post("/min/upsert", min_upsert)
    app.router.add_get("/min/entities/{id}", min_retrieve)
    app.router.add_patch("/min/entities/{id}/attrs", min_update_attrs)
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
