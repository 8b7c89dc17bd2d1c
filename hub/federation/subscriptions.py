"""Entity subscriptions over federated data (GS CIM 009 4.3.6, ``createSubscription``,
``updateSubscription``, ``deleteSubscription`` of a registration's ``operations``).

A subscription only sees local writes; data a municipality keeps in its own broker,
registered here as a context source, changes there. So when an entity subscription is
created, patched or deleted, the hub makes, patches or deletes a subscription of its own
at each source whose registration offers the operation and whose ``information`` can
match the subscription's entities / watched attributes, with this hub as the notification
endpoint: ``POST {public_url}/ngsi-ld/ex/v1/federation/notifications/{forwardId}``.

* **Whose rights.** A source is subscribed to only when the subscription's *subscriber*
  may receive some data of the registration's owner at all (a grant with ``subscribe``
  on a dataset of that owner which could hold the subscribed types; development mode:
  any): otherwise the source would be asked, and would send, data the subscriber can
  never receive. The call carries the registration's headers only (``Federation.target``:
  never the caller's ``Authorization``), through the egress-checked session, under the
  per-source timeout and breaker (``Federation.guarded``). A selector naming by id an
  entity another organisation's dataset claims is never sent to the source (``_foreign``):
  the source could not notify it, and would learn what the subscriber watches elsewhere.
* **The forwardId** is 256 random bits; only its SHA-256 is stored
  (``forwarded_subscriptions``, tenant migration 0080), and the receiving route looks the
  hash up, so an unknown and a forged token are the same miss (404). For a non-default
  tenant the token is followed by ``.`` and the tenant name in base64url, so the route
  knows which schema to look in without asking every tenant.
* **What comes back** is data of the registration's owner: each entity is stamped with the
  dataset that organisation's registry rules give it (else its default dataset), as
  ``reads.admit`` does for a query, and handed to the existing matcher for this one
  subscription (``matcher.notification_for``): the change is cut to what the subscriber
  may read before ``q``/``geoQ``/watched attributes are evaluated, and queued in the
  durable outbox, which decides again when it sends. An entity outside the
  registration's ``information``, or whose id or type a dataset of another organisation
  claims, is dropped (``reads.local_owners``' rule: a registration never speaks for
  another organisation's entities).
* **Failures.** A source that refuses or fails the creation leaves the local subscription
  as it is (logged, counted by the engine; no retry: the next PATCH of the subscription
  tries again). A failed remote deletion is logged; the rows go anyway, so the route
  answers 404 to that source from then on.

Not forwarded: periodic (``timeInterval``) subscriptions, subscriptions made through a
request whose ``Via`` already names this hub (a loop), and subscriptions to NGSI v2
sources (their subscription API differs; hub/federation/v2.py translates queries only).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from hub import keys
from hub.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from hub.federation.forward import (
    Failure,
    Federation,
    Registration,
    federation_of,
    parse_registration,
)
from hub.federation.ld_source import call, to_full_iri
from hub.federation.merge import from_full_iri
from hub.federation.qnames import map_q_names
from hub.federation.reads import candidate_datasets, owner_dataset, stamp
from hub.federation.sources import SourceError, SourceTarget
from hub.ngsild.checks import utc_iso
from hub.service.access_caller import enforced
from hub.service.access_reads import decide_entity
from hub.service.catalogue import DATASET_IRI
from hub.service.oauth import issuer_of
from hub.store import subscriptions as store
from hub.subscriptions.matcher import notification_for
from hub.subscriptions.matching import Change
from hub.subscriptions.model import q_text

__all__ = ["NOTIFY_PATH", "Forward", "forget_registration", "lookup", "parse_notification",
           "receive", "sync"]

log = logging.getLogger("renkei.federation")

#: the receiving route (hub/api/federation_notify.py)
NOTIFY_PATH = "/ngsi-ld/ex/v1/federation/notifications/{forwardId}"
#: members of a stored subscription copied to the source's (all in full IRIs)
_COPIED = ("watchedAttributes", "notificationTrigger", "expiresAt", "isActive",
           "throttling", "scopeQ", "datasetId")
#: the entity triggers a source's notification reason maps to (else an update)
_CREATED = frozenset({"entityCreated", "attributeCreated"})


@dataclass(frozen=True, slots=True)
class Forward:
    """One stored forwarding: a local subscription's subscription at one source."""

    sub_id: str
    reg_id: str
    owner: str | None
    remote_id: str
    location: str | None
    token_hash: bytes


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _notify_url(request: web.Request, forward_id: str) -> str:
    settings = request.app[keys.SETTINGS]
    base = (settings.public_url or issuer_of(settings)).rstrip("/")
    return base + NOTIFY_PATH.replace("{forwardId}", quote(forward_id, safe=""))


def _forward_id(token: str, tenant: str | None) -> str:
    if not tenant:
        return token
    return token + "." + base64.urlsafe_b64encode(tenant.encode()).decode().rstrip("=")


def _split_forward_id(forward_id: str) -> tuple[str, str | None] | None:
    """(token, tenant or None) of a forwardId, or None when it has no such form."""
    token, _, tenant = forward_id.partition(".")
    if not token or len(token) > 128:
        return None
    if not tenant:
        return token, None
    try:
        name = base64.urlsafe_b64decode(tenant + "=" * (-len(tenant) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (token, name) if name and name.isprintable() else None


# -- which registrations ---------------------------------------------------------------------

def _selector_types(sub: dict[str, Any]) -> list[str | None]:
    """The entity types the subscription selects (None: any type, e.g. a type expression
    or no entity selector)."""
    sels = sub.get("entities") or []
    if not sels:
        return [None]
    return [s.get("type") for s in sels]


def _concerns(reg: Registration, sub: dict[str, Any]) -> bool:
    """Whether ``reg``'s information can hold something the subscription selects."""
    watched = sub.get("watchedAttributes") or ()
    sels = sub.get("entities") or [{}]
    for info in reg.information:
        if watched and info.attrs is not None and not set(watched) & info.attrs:
            continue
        if not info.entities:
            return True
        for sel in sels:
            for reg_sel in info.entities:
                types = [sel["type"]] if "type" in sel else []
                if types and reg_sel.types and not (reg_sel.types & set(types)):
                    continue
                if "id" in sel and not reg_sel.matches(sel["id"], ()):
                    continue
                return True  # (an idPattern may match what the source holds: asked)
    return False


def _foreign(index: Any, reg: Registration, sel: dict[str, Any], dev: bool) -> bool:
    """Whether ``sel`` names one entity by id that a dataset of another organisation
    claims: ``reg``'s source can never notify it (``_stamp`` drops it), so telling the
    source of it would only show ``reg``'s owner which of another organisation's entities
    the subscriber watches, and with what ``q`` (development mode: never, as ``_stamp``)."""
    if dev or reg.owner is None or not isinstance(sel.get("id"), str):
        return False
    types = [sel["type"]] if isinstance(sel.get("type"), str) else []
    ds = index.owning_dataset(sel["id"], types)
    return ds is not None and ds.owner != reg.owner


def _own(index: Any, reg: Registration, sub: dict[str, Any],
         dev: bool) -> dict[str, Any] | None:
    """``sub`` without the selectors ``_foreign`` to ``reg``; None when none is left."""
    sels = sub.get("entities") or []
    kept = [s for s in sels if not _foreign(index, reg, s, dev)]
    if sels and not kept:
        return None
    return {**sub, "entities": kept} if len(kept) != len(sels) else sub


def _may_receive(request: web.Request, index: Any, reg: Registration,
                 sub: dict[str, Any]) -> bool:
    """Whether the subscriber may receive any entity the subscription selects from any
    dataset of ``reg``'s owner that could hold it — fail closed: no owner, no
    subscriber, no grant is False (development mode: True)."""
    caller = request.app[keys.SUBSCRIPTIONS].subscriber(sub)
    state = enforced(caller)
    if state is None:
        return True  # development mode (enforced() refuses a non-dev caller without state)
    if reg.owner is None or caller.consumer.anonymous:
        return False
    for type_iri in _selector_types(sub):
        for ds in candidate_datasets(index, reg.owner, type_iri):
            probe: dict[str, Any] = {"id": "", "types": [type_iri] if type_iri else [],
                                     "attrs": {}}
            stamp(probe, ds)
            if decide_entity(caller.consumer, probe, "subscribe", state,
                             caller.defaults).allowed:
                return True
    return False


async def _wanted(request: web.Request, fed: Federation, schema: str,
                  sub: dict[str, Any]) -> dict[str, Registration]:
    if "timeInterval" in sub or fed.via_names_me(request):
        return {}
    regs = [r for r in await fed.registrations(request, schema)
            if r.kind == "ld" and r.allows("createSubscription") and _concerns(r, sub)]
    if not regs:
        return {}
    index = await request.app[keys.REGISTRY_RULES].current()
    out = {}
    for r in regs:
        own = _own(index, r, sub, fed.dev)
        if own is not None and _concerns(r, own) and _may_receive(request, index, r, own):
            out[r.id] = r
    return out


# -- the subscription made at a source --------------------------------------------------------

async def _remote_body(request: web.Request, reg: Registration, sub: dict[str, Any],
                       remote_id: str, url: str) -> dict[str, Any]:
    """The subscription asked of the source: the local one's selection in full IRIs (the
    source gets the core @context), notifying this hub with whole normalized entities
    (the subscriber's own ``notification`` options are applied here, when the hub
    notifies it)."""
    body: dict[str, Any] = {"id": remote_id, "type": "Subscription"}
    sels = []
    reg_types = sorted({t for i in reg.information for s in i.entities for t in s.types})
    index = await request.app[keys.REGISTRY_RULES].current()
    dev = federation_of(request.app).dev
    for sel in sub.get("entities") or []:
        if not _concerns(reg, {**sub, "entities": [sel]}) or _foreign(index, reg, sel, dev):
            continue  # a selector this registration cannot answer is not asked there
        if "type" in sel:
            out = {k: sel[k] for k in ("id", "idPattern", "type") if k in sel}
            sels.append(out)
        else:  # a type expression names the subscriber's terms: asked by the registered types
            sels.extend({"type": t, **{k: sel[k] for k in ("id", "idPattern") if k in sel}}
                        for t in reg_types)
    if sels:
        body["entities"] = sels
    for key in _COPIED:
        if key in sub:
            body[key] = sub[key]
    if "q" in sub:
        ctx = await request.app[keys.SUBSCRIPTIONS].resolve(sub.get("context"))
        body["q"] = map_q_names(q_text(sub["q"]), ctx.expand)
    if "geoQ" in sub:
        body["geoQ"] = sub["geoQ"]
    body["notification"] = {"format": "normalized",
                            "endpoint": {"uri": url, "accept": "application/json"}}
    return body


def _target(request: web.Request, fed: Federation, reg: Registration) -> SourceTarget:
    return fed.target(request, reg, None, None)


async def _create(request: web.Request, fed: Federation, reg: Registration,
                  body: dict[str, Any]) -> str | None:
    """Create ``body`` at the source; its ``Location`` (or None)."""
    target = _target(request, fed, reg)

    async def go() -> str | None:
        status, _, headers = await call(request.app[keys.HTTP], target, "POST",
                                        "/subscriptions", body=body)
        if status != 201:
            raise SourceError(f"createSubscription answered {status}", status)
        return headers.get("Location")

    result = await fed.guarded(reg, go)
    if isinstance(result, Failure):
        raise SourceError(result.detail, result.status)
    return result


async def _patch(request: web.Request, fed: Federation, reg: Registration, fwd: Forward,
                 body: dict[str, Any]) -> None:
    """The members the local PATCH may have changed (a member removed locally stays at
    the source: the local matcher still applies the subscription as it now is)."""
    target = _target(request, fed, reg)
    members = {k: v for k, v in body.items() if k not in ("id", "type", "notification")}

    async def go() -> None:
        status, _, _ = await call(request.app[keys.HTTP], target, "PATCH",
                                  "/subscriptions/" + quote(fwd.remote_id, safe=":"),
                                  body=members)
        if status != 204:
            raise SourceError(f"updateSubscription answered {status}", status)

    result = await fed.guarded(reg, go)
    if isinstance(result, Failure):
        log.warning("could not update the subscription %s at %s: %s", fwd.remote_id,
                    reg.id, result.detail)


async def _delete(request: web.Request, fed: Federation, reg: Registration | None,
                  fwd: Forward) -> None:
    """Best effort: the rows go whatever the source answers."""
    if reg is None or not reg.allows("deleteSubscription"):
        return
    target = _target(request, fed, reg)

    async def go() -> None:
        status, _, _ = await call(request.app[keys.HTTP], target, "DELETE",
                                  "/subscriptions/" + quote(fwd.remote_id, safe=":"))
        if status not in (204, 404):
            raise SourceError(f"deleteSubscription answered {status}", status)

    result = await fed.guarded(reg, go)
    if isinstance(result, Failure):
        log.warning("could not delete the subscription %s at %s: %s", fwd.remote_id,
                    reg.id, result.detail)


# -- the table --------------------------------------------------------------------------------

_FWD = "sub_id, reg_id, owner, remote_id, location, token_hash"


def _fwd(r: asyncpg.Record) -> Forward:
    return Forward(r["sub_id"], r["reg_id"], r["owner"], r["remote_id"], r["location"],
                   bytes(r["token_hash"]))


async def _rows(pool: asyncpg.Pool, schema: str, sub_id: str) -> list[Forward]:
    rows = await pool.fetch(
        f"SELECT {_FWD} FROM {schema}.forwarded_subscriptions WHERE sub_id = $1", sub_id)
    return [_fwd(r) for r in rows]


async def _drop(pool: asyncpg.Pool, schema: str, fwd: Forward) -> None:
    await pool.execute(f"DELETE FROM {schema}.forwarded_subscriptions WHERE token_hash = $1",
                       fwd.token_hash)


# -- the hook of the subscription API ---------------------------------------------------------

async def sync(request: web.Request, schema: str, sub_id: str,
               sub: dict[str, Any] | None) -> None:
    """Bring the sources' subscriptions for ``sub_id`` in line with ``sub`` (its stored
    form after a create or a PATCH; None after a delete): create where a registration now
    matches, patch where one still does, delete where none does any more. Never raises:
    the local operation has succeeded whatever the sources answer."""
    try:
        await _sync(request, schema, sub_id, sub)
    except Exception:  # a source or this bookkeeping must not fail the local operation
        log.exception("could not forward subscription %s to context sources", sub_id)


async def _sync(request: web.Request, schema: str, sub_id: str,
                sub: dict[str, Any] | None) -> None:
    fed = federation_of(request.app)
    pool = request.app[keys.POOL]
    if sub is not None and not (fed.enabled and await fed.registrations(request, schema)):
        return  # no registration (one cached look-up): a create or PATCH costs nothing more
    held = await _rows(pool, schema, sub_id)
    if sub is None and not held:
        return
    wanted = await _wanted(request, fed, schema, sub) if sub is not None and fed.enabled \
        else {}
    known = {r.id: r for r in await fed.cache.get(pool, schema)} if held else {}
    kept = [(f, wanted.pop(f.reg_id)) for f in held
            if f.reg_id in wanted and wanted[f.reg_id].owner == f.owner]
    gone = [f for f in held if all(f is not k for k, _ in kept)]

    async def patch(fwd: Forward, reg: Registration) -> None:
        if sub is not None and reg.allows("updateSubscription"):
            await _patch(request, fed, reg, fwd,
                         await _remote_body(request, reg, sub, fwd.remote_id, ""))

    async def drop(fwd: Forward) -> None:
        await _delete(request, fed, known.get(fwd.reg_id), fwd)
        await _drop(pool, schema, fwd)

    async def create(reg: Registration) -> None:
        assert sub is not None
        token = secrets.token_urlsafe(32)
        remote_id = f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
        fwd = Forward(sub_id, reg.id, reg.owner, remote_id, None, _hash(token))
        body = await _remote_body(request, reg, sub, remote_id, _notify_url(
            request, _forward_id(token, request.headers.get("NGSILD-Tenant"))))
        # the row first: a source may notify before its answer to the creation arrives
        status = await pool.execute(
            f"INSERT INTO {schema}.forwarded_subscriptions (token_hash, sub_id, reg_id, owner,"
            " remote_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sub_id, reg_id) DO NOTHING",
            fwd.token_hash, sub_id, reg.id, reg.owner, remote_id)
        if not status.endswith(" 1"):
            return  # made meanwhile by a concurrent PATCH of the same subscription
        try:
            location = await _create(request, fed, reg, body)
        except SourceError as exc:
            log.warning("could not create a subscription for %s at %s: %s", sub_id, reg.id,
                        exc.detail)
            await _drop(pool, schema, fwd)
            return
        if location:
            await pool.execute(f"UPDATE {schema}.forwarded_subscriptions SET location = $2"
                               " WHERE token_hash = $1", fwd.token_hash, location[:2048])

    # the sources concurrently: one slow source costs its timeout once, not once per source
    await asyncio.gather(*(patch(f, r) for f, r in kept), *(drop(f) for f in gone),
                         *(create(r) for r in wanted.values()))


async def forget_registration(request: web.Request, schema: str, row: Any) -> None:
    """After a registration (``row``, hub/store/csources.py) was deleted: delete the
    subscriptions the hub made at its source (best effort) and their rows, so the route
    answers 404 for them. Never raises."""
    pool = request.app[keys.POOL]
    try:
        held = [_fwd(r) for r in await pool.fetch(
            f"SELECT {_FWD} FROM {schema}.forwarded_subscriptions WHERE reg_id = $1", row.id)]
        reg = parse_registration({"id": row.id, "owner": row.owner, "body": row.body})
        for fwd in held:
            await _delete(request, federation_of(request.app), reg, fwd)
            await _drop(pool, schema, fwd)
    except Exception:  # the registration is gone whatever the source answers
        log.exception("could not forget the subscriptions forwarded to %s", row.id)


# -- the receiving route ----------------------------------------------------------------------

async def lookup(request: web.Request, forward_id: str) -> tuple[str, Forward, Registration]:
    """The schema, forwarding and registration a forwardId names; ``ResourceNotFound``
    for anything else — unknown tenant, malformed, unknown or forged token, a deleted
    registration or one whose owner changed — with one and the same answer."""
    missing = ResourceNotFound("no such notification endpoint")
    parts = _split_forward_id(forward_id)
    if parts is None:
        raise missing
    token, tenant = parts
    app = request.app
    try:
        schema = await app[keys.TENANTS].resolve(app[keys.POOL], tenant, False)
    except (NonexistentTenant, BadRequestData):
        raise missing from None
    row = await app[keys.POOL].fetchrow(
        f"SELECT {_FWD} FROM {schema}.forwarded_subscriptions WHERE token_hash = $1",
        _hash(token))
    if row is None:
        raise missing
    fwd = _fwd(row)
    fed = federation_of(app)
    reg = next((r for r in await fed.cache.get(app[keys.POOL], schema)
                if r.id == fwd.reg_id), None)
    if reg is None or reg.owner != fwd.owner or not fed.enabled or (
            reg.owner is None and not fed.dev):
        raise missing
    return schema, fwd, reg


def _stamp(index: Any, reg: Registration, ent: dict[str, Any], dev: bool) -> bool:
    """Stamp ``ent`` as data of ``reg``'s owner (``reads.admit``'s rule); False when it is
    to be dropped: an id or type another organisation's dataset claims."""
    if reg.owner is None:
        return dev
    dataset, claimed = owner_dataset(index, reg.owner, ent["id"], ent["types"])
    if claimed and not dev:
        return False
    stamp(ent, dataset)
    return True


def _change(ent: dict[str, Any], reason: Any, at: str) -> Change:
    """The change a source's notification reports, as the matcher takes it. The state
    before is unknown: a created entity or attribute is a creation, a deleted entity a
    deletion, anything else an update of every attribute the source sent (each instance
    counts as changed)."""
    if reason in _CREATED:
        return Change(ent["id"], "c", None, ent, at)
    if reason == "entityDeleted":
        return Change(ent["id"], "d", ent, None, at)
    before = {**ent, "attrs": {k: v if k == DATASET_IRI else
                               [{**i, "modifiedAt": "(before)"} for i in v]
                               for k, v in ent["attrs"].items()}}
    return Change(ent["id"], "u", before, ent, at)


def _unstamped(item: tuple[str, str, dict[str, Any]], hidden: set[str],
               ) -> tuple[str, str, dict[str, Any]]:
    """The notification without the dataset stamp in what is sent (as ``reads.admit``
    shows a remote entity); the stored form keeps it for the send-time decision."""
    nid, sub_id, payload = item
    data = [{k: v for k, v in e.items() if k not in hidden} if isinstance(e, dict) else e
            for e in payload["data"]]
    return nid, sub_id, {**payload, "data": data}


def parse_notification(body: Any, active: Any, fwd: Forward) -> tuple[list[dict[str, Any]], Any]:
    """The entities (stored form, full IRIs) and trigger reason of a Notification (5.3.1);
    ``BadRequestData`` for anything else."""
    if not isinstance(body, dict) or body.get("type") != "Notification":
        raise BadRequestData("the body must be an NGSI-LD Notification")
    if body.get("subscriptionId") not in (None, fwd.remote_id):
        raise BadRequestData("subscriptionId is not the subscription this endpoint serves")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise BadRequestData("a Notification's data must be a non-empty array of entities")
    if len(data) > 1000:
        raise BadRequestData("a Notification may carry at most 1000 entities here")
    out = []
    for raw in data:
        try:
            ent = from_full_iri(to_full_iri(raw, active))
        except SourceError as exc:
            raise BadRequestData(exc.detail) from None
        out.append(ent)
    return out, body.get("triggerReason")


async def receive(request: web.Request, schema: str, fwd: Forward, reg: Registration,
                  entities: list[dict[str, Any]], reason: Any) -> int:
    """Queue what the source notified for the one local subscription it serves, through
    the matcher of local changes (as its subscriber) and the durable outbox; how many
    notifications were queued. ``ResourceNotFound`` when the subscription is gone."""
    queued = await _queue(request, schema, fwd, reg, entities, reason)
    if queued < 0:
        raise ResourceNotFound("no such notification endpoint")
    return queued


async def _queue(request: web.Request, schema: str, fwd: Forward, reg: Registration,
                 entities: list[dict[str, Any]], reason: Any) -> int:
    """``receive`` in one transaction; -1 (its rows deleted) when the subscription is
    gone."""
    app = request.app
    fed = federation_of(app)
    index = await app[keys.REGISTRY_RULES].current()
    now = utc_iso(datetime.now(UTC))
    runtime = app[keys.SUBSCRIPTIONS]
    async with app[keys.POOL].acquire() as con, con.transaction():
        row = await store.fetch_subscription(con, schema, fwd.sub_id)
        if row is None:  # deleted without its rows (a crash between the two): no endpoint
            await con.execute(f"DELETE FROM {schema}.forwarded_subscriptions"
                              " WHERE sub_id = $1", fwd.sub_id)
            return -1
        expired = row.expires_at is not None and row.expires_at <= datetime.now(UTC)
        if not row.active or expired or row.body.get("timeInterval") is not None:
            return 0  # paused or expired: nothing to notify
        ctx = await runtime.render_context(row.body)
        hidden = {DATASET_IRI, ctx.compact(DATASET_IRI)}
        items = []
        for ent in entities:
            if not reg.infos(ent["id"], ent["types"]) or not _stamp(index, reg, ent, fed.dev):
                continue  # outside what the source registered, or another's entity
            ent["createdAt"] = ent.get("createdAt") or now
            ent["modifiedAt"] = ent.get("modifiedAt") or now
            item = await notification_for(con, schema, row.body, _change(ent, reason, now),
                                           runtime)
            if item is not None:
                items.append(_unstamped(item, hidden))
        await store.insert_notifications(con, schema, items)
        if items:
            await con.execute("SELECT pg_notify('renkei_notifications', $1)", schema)
    return len(items)
