"""What every benchmark does to a fresh hub before it measures: a catch-all dataset.

Every entity belongs to a registered dataset (docs/registry.md); benchmarks write arbitrary
entities, so they register one dataset that owns them all, through the hub's own
registry API (the hub runs with ``RENKEI_AUTH_MODE=dev``). Idempotent: PUT replaces.
"""

from __future__ import annotations

import aiohttp

__all__ = ["register_catch_all"]


async def register_catch_all(session: aiohttp.ClientSession, base: str) -> None:
    """``base`` is the hub's root URL, e.g. ``http://127.0.0.1:18026``."""
    async with session.put(base + "/registry/v1/organisations/200000",
                           json={"name": {"ja": "長野県", "en": "Nagano Prefecture"}}) as r:
        assert r.status in (200, 201), await r.text()
    async with session.put(base + "/registry/v1/datasets/bench", json={
            "owner": "200000", "name": {"ja": "ベンチマーク", "en": "benchmark"},
            "rule": {"catchAll": True}, "licence": "CC-BY-4.0",
            "updateFrequency": "irregular"}) as r:
        assert r.status in (200, 201), await r.text()
