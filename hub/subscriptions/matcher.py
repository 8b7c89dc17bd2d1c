"""Turn recorded entity changes into notifications, durably.

One transaction per round: claim a batch of changes from ``entity_changes`` (other hub
processes skip them), match them against the candidate subscriptions of their types, insert
the notifications, delete the changes, commit. A crash anywhere rolls the round back and the
changes are matched again, so a change is turned into its notifications exactly once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from hub.jsonld.active import ActiveContext
from hub.ngsild.checks import utc_iso
from hub.ngsild.render import render_flat
from hub.service import access
from hub.service.access_caller import Caller, acting_as
from hub.service.linked import load_linked
from hub.store import subscriptions as store
from hub.subscriptions.matching import Change, change_from_row, match, render_options
from hub.subscriptions.model import prefilter_ids
from hub.subscriptions.payloads import notification_entity

__all__ = ["Contexts", "match_round", "new_notification_id", "notification_for", "periodic_payload",
           "subscriber_view"]

log = logging.getLogger("renkei.subscriptions")

class Contexts(Protocol):
    """Where the matcher gets a subscription's active contexts (cached by the caller) and
    whose rights it evaluates the subscription with (its subscriber's, never the hub's)."""

    async def resolve(self, raw: Any) -> ActiveContext: ...

    async def render_context(self, sub: dict[str, Any]) -> ActiveContext: ...

    def subscriber(self, sub: dict[str, Any]) -> Caller: ...


def new_notification_id() -> str:
    return f"urn:ngsi-ld:Notification:{uuid.uuid4()}"


async def match_round(
    pool: asyncpg.Pool, schema: str, contexts: Contexts, batch: int = 500
) -> int:
    """Match one batch of changes; returns how many notifications were created."""
    async with pool.acquire() as con, con.transaction():
        rows = await store.claim_changes(con, schema, batch)
        if not rows:
            return 0
        changes = [change_from_row(r["entity_id"], _op(r["op"]), r["old"], r["new"], r["at"])
                   for r in rows]
        types = sorted({t for c in changes for s in (c.before, c.after) if s
                        for t in s["types"]})
        ids = sorted({c.entity_id for c in changes})
        by_id, any_id = _index(await store.candidate_subscriptions(con, schema, types, ids))
        items: list[tuple[str, str, dict[str, Any]]] = []
        for change, row in zip(changes, rows, strict=True):
            for sub, created_at in by_id.get(change.entity_id, []) + any_id:
                if created_at > row["at"]:
                    continue  # the subscription did not exist when the entity changed
                item = await notification_for(con, schema, sub, change, contexts)
                if item is not None:
                    items.append(item)
        await store.insert_notifications(con, schema, items)
        if items:
            await con.execute("SELECT pg_notify('renkei_notifications', $1)", schema)
        return len(items)


Candidate = tuple[dict[str, Any], datetime]


def _index(subs: list[Candidate]) -> tuple[dict[str, list[Candidate]], list[Candidate]]:
    """Candidates by the entity ids they are limited to, and those limited to none, so a
    change is matched only against subscriptions that can select it."""
    by_id: dict[str, list[Candidate]] = {}
    any_id: list[Candidate] = []
    for cand in subs:
        ids = prefilter_ids(cand[0])
        if ids is None:
            any_id.append(cand)
        else:
            for i in ids:
                by_id.setdefault(i, []).append(cand)
    return by_id, any_id


def _op(value: str | bytes) -> str:
    """asyncpg hands PostgreSQL's one-byte ``"char"`` over as bytes."""
    return value.decode() if isinstance(value, bytes) else value


async def notification_for(
    con: asyncpg.Connection, schema: str, sub: dict[str, Any], change: Change,
    contexts: Contexts,
) -> tuple[str, str, dict[str, Any]] | None:
    """The notification ``change`` gives ``sub``, decided entirely as its subscriber:
    filters, watched attributes and triggers see only what the subscriber may read, and
    joined entities are loaded with its rights (each read audited), so whether and what it
    is notified tells it nothing a GET would not."""
    try:
        with acting_as(contexts.subscriber(sub)):
            seen = subscriber_view(change)
            if seen is None:
                return None
            fired = match(sub, seen, await contexts.resolve(sub.get("context")))
            if fired is None:
                return None
            ctx = await contexts.render_context(sub)
            opts = render_options(sub)
            linked: dict[str, dict[str, Any]] = {}
            full: dict[str, dict[str, Any]] = {}
            if opts.join and seen.after is not None:
                linked = await load_linked(con, schema, [seen.after], opts, "subscribe", full)
            data = [notification_entity(sub, seen, fired, ctx, opts,
                                        linked if opts.join == "inline" else None)]
            # the stored forms (never sent), which access control decides on again when
            # the notification is sent: provenance included, which the cut views lack
            state = change.after if seen.after is not None else change.before
            assert state is not None
            stored = [state]
            if opts.join == "flat" and seen.after is not None:
                extra = render_flat([seen.after], ctx, opts, linked)[1:]
                data.extend(extra)
                stored.extend(full[e["id"]] for e in extra if e.get("id") in full)
    except Exception:  # one broken subscription must not block the others' notifications
        log.exception("could not match a change", extra={"subscription": sub.get("id")})
        return None
    payload = {"data": data, "stored": stored, "triggerReason": fired.trigger,
               "changedAt": change.at}
    return new_notification_id(), sub["id"], payload


def subscriber_view(change: Change) -> Change | None:
    """``change`` as the current caller (the subscriber) may see it: each state cut to its
    readable attributes, None when it may see neither the change's entity nor any of what
    changed. A state it may not see counts as absent (so an entity it could not see before
    appears created); an update that touched only attributes it may not read is no change
    at all for it."""
    before = (access.visible(change.before, "subscribe", audit=False)
              if change.before is not None else None)
    after = (access.visible(change.after, "subscribe", audit=False)
             if change.after is not None else None)
    if change.op == "d":
        return None if before is None else Change(change.entity_id, "d", before, None,
                                                   change.at)
    if after is None:
        return None
    if before is None:
        return Change(change.entity_id, "c", None, after, change.at)
    if (before is not change.before or after is not change.after) \
            and before["attrs"] == after["attrs"] and before["types"] == after["types"] \
            and before.get("scopes") == after.get("scopes"):
        return None  # only attributes hidden from the subscriber changed
    return Change(change.entity_id, change.op, before, after, change.at)


def periodic_payload(entities: list[dict[str, Any]], stored: list[dict[str, Any]],
                     now: datetime) -> dict[str, Any]:
    return {"data": entities, "stored": stored, "triggerReason": "timeInterval",
            "changedAt": utc_iso(now)}
