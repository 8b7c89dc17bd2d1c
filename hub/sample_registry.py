"""The quick start's registry: 長野県, four of its cities, and datasets covering the sample
entities and the README walk-through (``hub/sample_data/registry.json``).

Registered with idempotent puts, so restarting re-applies the same records and changes
nothing. A dataset that cannot be registered (say a user's catch-all already owns
everything) is skipped with a warning: the sample never overrides what a user registered.
"""

from __future__ import annotations

import logging
from importlib import resources

import orjson
from aiohttp import web

from hub import keys
from hub.jsonld.process import build_active_context
from registry import Invalid, RegistryRepository
from registry import service as svc

__all__ = ["register_sample_registry"]

log = logging.getLogger("renkei.sample")


async def register_sample_registry(app: web.Application) -> int:
    """Register the sample organisations and datasets; returns the datasets registered."""
    raw = orjson.loads((resources.files("hub") / "sample_data" / "registry.json").read_bytes())
    repo = RegistryRepository(app[keys.POOL])
    for org in raw["organisations"]:
        await svc.put_organisation(repo, org["id"], org)
    ctx = await build_active_context(None, app[keys.CONTEXTS])
    registered = 0
    for ds in raw["datasets"]:
        try:
            await svc.put_dataset(repo, ds["id"], ds, ctx.expand)
            registered += 1
        except Invalid as exc:
            log.warning("sample dataset not registered", extra={"dataset": ds["id"],
                                                                "reason": exc.detail})
    app[keys.REGISTRY_RULES].invalidate()
    return registered
