"""Nagano sample entities for the quick start (``renkei serve --sample-data``).

Loaded through the same parser, ownership rule and store as API writes, and create-only, so
restarting never overwrites what a user changed. ``nagano.json`` is hand-written (station
positions approximate, values illustrative); ``nagano_amedas.json`` holds real JMA AMeDAS
readings of the prefecture's 45 stations as the JMA adapter normalises them.
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


# (file, whether its entities carry their own @context): the hand-written entities use the
# core context; the AMeDAS snapshot is the JMA adapter's output for Nagano (48xxx stations),
# made with `renkei adapters export jma-amedas --option prefecture=48` from the JMA map of
# 2025-06-28 18:00 JST (出典：気象庁ホームページ), in the contracts' @context.
SAMPLES = (("nagano.json", False), ("nagano_amedas.json", True))


async def load_sample_data(app: web.Application) -> int:
    await register_sample_registry(app)  # first: every sample entity needs its dataset
    now = now_iso()
    core = await build_active_context(None, app[keys.CONTEXTS])
    entities = []
    for name, own_context in SAMPLES:
        raw = orjson.loads((resources.files("hub") / "sample_data" / name).read_bytes())
        for e in raw:
            ctx = (await app[keys.CONTEXT_CACHE].get(e.pop("@context"), app[keys.CONTEXTS])
                   if own_context else core)
            entities.append(new_entity(parse_entity(e, ctx, now), now))
    guard = WriteGuard(await app[keys.REGISTRY_RULES].current(), None)
    docs = guard.settle_many(entities, now,
                             lambda eid, err: log.warning("sample entity not loaded", extra={
                                 "entity": eid, "reason": err.detail}))
    schema = await app[keys.TENANTS].resolve(app[keys.POOL], None, create=True)
    async with app[keys.POOL].acquire() as con, con.transaction():
        written = await write_entities(con, schema, docs, create_only=True)
    return len(written)
