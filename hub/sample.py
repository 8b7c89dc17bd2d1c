"""Nagano sample entities for the quick start (``renkei serve --sample-data``).

Loaded through the same parser, ownership rule and store as API writes, and create-only, so
restarting never overwrites what a user changed. Loading them also names the playground:
development-mode writes that no dataset rule covers go to the demo prefecture's default
dataset. ``nagano.json`` is hand-written (station
positions approximate, values illustrative); ``nagano_amedas.json`` holds real JMA AMeDAS
readings of the prefecture's 45 stations as the JMA adapter normalises them (their 1 h,
3 h and 24 h precipitation are the dashboard's rain accumulations); ``mlit_jikoku_suii_*.dat``
is a month of real MLIT hourly river levels loaded as history (``hub/sample_river.py``), so
the dashboard (``/dashboard/``) has a real series to draw on first start.
"""

from __future__ import annotations

import logging
import uuid
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

import contracts
from hub import keys
from hub.jsonld.active import ActiveContext
from hub.ngsild.attributes import parse_instance
from hub.ngsild.checks import now_iso
from hub.ngsild.entity import parse_entity, parse_types
from hub.sample_registry import register_sample_registry
from hub.sample_river import RiverSample, river_sample
from hub.service.entities import new_entity
from hub.service.ownership import WriteGuard
from hub.store import temporal
from hub.store.entities import write_entities
from registry import is_prefecture_code

__all__ = ["demo_prefecture", "load_sample_data"]

log = logging.getLogger("renkei.sample")


# (file, whether its entities carry their own @context): the hand-written entities are
# read in the contracts' @context (a contract type has one IRI, the contract's, so the
# sample shows the same entities as the adapters); the AMeDAS snapshot is the JMA
# adapter's output for Nagano (48xxx stations), made with `renkei adapters export
# jma-amedas --option prefecture=48` from the JMA map of 2025-06-28 18:00 JST
# (出典：気象庁ホームページ), and names its @context itself.
SAMPLES = (("nagano.json", False), ("nagano_amedas.json", True))
# The MLIT hourly stage of 茂志利 (天塩川), January 2023, and its position from MLIT's
# SiteInfoDetail page (世界測地系), as recorded by RivRetrieve (MIT); 出典：国土交通省.
RIVER = ("mlit_jikoku_suii_301011281104010_202301.dat", "北緯 44度04分29秒 東経 142度44分25秒",
         "茂志利")


def _river() -> RiverSample:
    raw = (resources.files("hub") / "sample_data" / RIVER[0]).read_bytes()
    return river_sample(raw, RIVER[1], RIVER[2])


def demo_prefecture() -> str:
    """The sample registry's prefecture (長野県): the owner of the playground dataset."""
    raw = orjson.loads((resources.files("hub") / "sample_data" / "registry.json").read_bytes())
    return next(o["id"] for o in raw["organisations"] if is_prefecture_code(o["id"]))


async def load_sample_data(app: web.Application) -> int:
    await register_sample_registry(app)  # first: every sample entity needs its dataset
    # the playground: in development mode a write without a caller that no rule covers
    # lands in the demo prefecture's default dataset (registry/model.py default_dataset)
    app[keys.REGISTRY_RULES].playground = demo_prefecture()
    now = now_iso()
    shared = await app[keys.CONTEXT_CACHE].get([contracts.CONTEXT_URL], app[keys.CONTEXTS])
    entities = []
    for name, own_context in SAMPLES:
        raw = orjson.loads((resources.files("hub") / "sample_data" / name).read_bytes())
        for e in raw:
            ctx = (await app[keys.CONTEXT_CACHE].get(e.pop("@context"), app[keys.CONTEXTS])
                   if own_context else shared)
            entities.append(new_entity(parse_entity(e, ctx, now), now))
    river = _river()
    entities += [new_entity(parse_entity(e, shared, now), now) for e in river.entities]
    guard = WriteGuard(await app[keys.REGISTRY_RULES].current(), None)
    docs = guard.settle_many(entities, now,
                             lambda eid, err: log.warning("sample entity not loaded", extra={
                                 "entity": eid, "reason": err.detail}))
    schema = await app[keys.TENANTS].resolve(app[keys.POOL], None, create=True)
    async with app[keys.POOL].acquire() as con, con.transaction():
        # the history first: writing the entity records its current reading as history
        # too (hub/store/entities.py), and the loader adds only to a history not yet begun
        await _load_history(con, schema, guard, river.history, shared, now)
        written = await write_entities(con, schema, docs, create_only=True)
    return len(written)


async def _load_history(con: Any, schema: str, guard: WriteGuard, body: dict[str, Any],
                        ctx: ActiveContext, now: str) -> None:
    """The station's readings as temporal instances, owned like its entity; create-only
    (a restart adds nothing, a user's history is never touched), as the system task
    ``sample-data`` (writes only, through the temporal store as POST /temporal does)."""
    eid = body["id"]
    if await temporal.head(con, schema, eid, for_update=True) is not None:
        return
    types = parse_types(body["type"], ctx)
    rows = [(ctx.expand(key), f"urn:ngsi-ld:attribute:instance:{uuid.uuid4()}",
             parse_instance(ctx.expand(key), item, ctx, now))
            for key, items in body.items() if key not in ("id", "type") for item in items]
    await temporal.upsert_entity(con, schema, eid, types, guard.owner(eid, types).id)
    await temporal.add_instances(con, schema, eid, rows)
