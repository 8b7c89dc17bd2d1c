"""History of deletions made through the core API (issue #16, docs/architecture.md
"History"): a deleted attribute or entity leaves a ``deletedAt`` instance in the temporal
representation, in the same transaction as the delete.

Writes (create, update, merge, replace) record their history in the write statement itself
(``hub/store/entities.py``); a deletion removes what that statement would compare with, so
it is recorded here, by the API handler, after the service layer decided and performed the
delete within the same transaction: a refused or rolled-back delete records nothing.
"""

from __future__ import annotations

import asyncpg

from hub.service import access
from hub.service.ownership import WriteGuard, owner_of
from hub.store import entities as entities_store
from hub.store import temporal as store

__all__ = ["delete_from_history", "record_deletion"]


async def record_deletion(con: asyncpg.Connection, schema: str, entity_id: str,
                          attrs: list[str] | None, dataset_id: str | None = None,
                          delete_all: bool = True, *, now: str) -> int:
    """After the caller's delete of ``attrs`` (None: the whole entity, called before the
    row goes) of an entity the service layer let it write: a deletion instance per
    attribute with history, in the temporal entity of the same owner. Returns how many."""
    ent = await entities_store.fetch_entity(con, schema, entity_id)
    if ent is None:
        return 0
    return await store.record_deletions(con, schema, entity_id, attrs, dataset_id,
                                        delete_all, owner_of(ent["attrs"]), now)


async def delete_from_history(con: asyncpg.Connection, schema: str, entity_id: str,
                              iri: str, dataset_id: str | None, delete_all: bool, *,
                              guard: WriteGuard, now: str) -> bool:
    """``DELETE /entities/{id}/attrs/{attr}`` of an entity that exists only as a temporal
    representation (started through the temporal API): the attribute's deletion is
    recorded in its history, as for any entity, when the caller may write that history
    (the temporal API's own rule: the stored owning dataset). False (the caller answers
    404 as before) when there is no such entity, attribute or right."""
    guard.check_attribute(iri)
    if await entities_store.fetch_entity(con, schema, entity_id) is not None:
        return False  # a current entity without the attribute: a plain 404
    known = await store.head(con, schema, entity_id, for_update=True)
    if known is None or not access.decide_stored(entity_id, *known, action="write").allowed:
        return False
    return await store.record_deletions(con, schema, entity_id, [iri], dataset_id,
                                        delete_all, known[1], now) > 0
