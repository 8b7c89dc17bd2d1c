"""Linked-entity retrieval (GS CIM 009 4.5.23): load what relationships point to.

One query per join level, whatever the number of entities, so ``joinLevel=2`` over a page
of results costs two extra round trips, not one per relationship.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.ngsild.render import RenderOptions, relationship_targets
from hub.service import access
from hub.store import entities as store

__all__ = ["load_linked"]


async def load_linked(
    con: asyncpg.Connection, schema: str, roots: list[dict[str, Any]], opts: RenderOptions,
    action: str = "read", stored: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The entities ``roots`` link to, up to ``opts.join_level`` levels, each as the current
    caller may see it (``action``: ``read`` for GET, ``subscribe`` for notifications); the
    ones it may not see are left out, exactly as missing ones. ``stored`` receives each
    shown entity's stored form, for a decision made again later (notifications)."""
    linked: dict[str, dict[str, Any]] = {r["id"]: r for r in roots}
    known = set(linked)
    frontier = [(r, opts) for r in roots]
    for _ in range(max(opts.join_level, 0)):
        wanted = {t for ent, o in frontier for _, t in relationship_targets(ent, o)} - known
        if not wanted:
            break
        rows = await store.fetch_many(con, schema, sorted(wanted))
        fetched = {i: shown for i, e in rows.items()
                   if (shown := access.visible(e, action)) is not None}  # linked: same rules
        if stored is not None:
            stored.update((i, rows[i]) for i in fetched)
        linked.update(fetched)
        known |= wanted
        frontier = [
            (fetched[t], o.for_link(iri))
            for ent, o in frontier
            for iri, t in relationship_targets(ent, o)
            if t in fetched
        ]
    return linked
