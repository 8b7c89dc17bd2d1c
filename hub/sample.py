"""Nagano sample entities for the quick start (``renkei serve --sample-data``).

Loaded through the same parser and store as API writes, and create-only, so restarting
never overwrites what a user changed. Station positions are approximate (public JMA
station list); values are illustrative.
"""

from __future__ import annotations

import logging
from importlib import resources

import orjson
from aiohttp import web

from hub import keys
from hub.jsonld.process import build_active_context
from hub.ngsild.checks import now_iso
from hub.ngsild.entity import parse_entity
from hub.sample_registry import register_sample_registry
from hub.service.entities import new_entity
from hub.service.ownership import WriteGuard
from hub.store.entities import write_entities

__all__ = ["load_sample_data"]

log = logging.getLogger("renkei.sample")


async def load_sample_data(app: web.Application) -> int:
    await register_sample_registry(app)  # first: every sample entity needs its dataset
    raw = orjson.loads((resources.files("hub") / "sample_data" / "nagano.json").read_bytes())
    ctx = await build_active_context(None, app[keys.CONTEXTS])
    now = now_iso()
    guard = WriteGuard(await app[keys.REGISTRY_RULES].current(), None)
    docs = guard.settle_many([new_entity(parse_entity(e, ctx, now), now) for e in raw], now,
                             lambda eid, err: log.warning("sample entity not loaded", extra={
                                 "entity": eid, "reason": err.detail}))
    schema = await app[keys.TENANTS].resolve(app[keys.POOL], None, create=True)
    async with app[keys.POOL].acquire() as con, con.transaction():
        written = await write_entities(con, schema, docs, create_only=True)
    return len(written)
