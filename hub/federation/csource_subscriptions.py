"""Subscriptions to context source registrations (GS CIM 009 V1.9.1 5.11): the data type
and what a registration change notifies.

A registration subscription is a Subscription (5.2.12) whose ``entities``,
``watchedAttributes``, ``q``, ``geoQ``, ``temporalQ`` and ``csf`` select *registrations*:
the entity selectors and attribute names against the registrations' ``information``,
``q``/``csf`` against their additional properties, ``geoQ`` against ``location`` (or the
``geoproperty`` named: ``observationSpace``, ``operationSpace``), ``temporalQ`` against
``observationInterval`` (``observedAt``) or ``managementInterval``
(``createdAt``/``modifiedAt``). The members shared with entity subscriptions are validated
by the one parser, ``hub/subscriptions/model.py``; ``temporalQ`` and ``csf``, which only
registration subscriptions take, here.

Notifications (5.11.7) are decided in the transaction that writes the registration (or
creates the subscription: the registrations matching already, ``newlyMatching``) and queued
in the same outbox as entity notifications, so they are delivered by the same durable
deliverer: leases, retries with backoff, counters, dead letters, queue bounds. The trigger
reason is ``newlyMatching`` (a registration now matches that did not, or a new one),
``updated`` (matched before and after) or ``noLongerMatching`` (matched before, no longer,
or deleted). Each carries the registration as the subscriber's @context renders it, with
secrets masked and its ``information`` cut to the RegistrationInfo elements relevant for
the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from hub import keys
from hub.db.pool import is_database_trouble
from hub.errors import BadRequestData, InvalidRequest
from hub.federation.registration import TemporalFilter, matches_query, render_registration
from hub.jsonld.active import ActiveContext
from hub.query.geo import GeoQuery, parse_geo_query
from hub.query.qlang import QExpr, parse_q
from hub.store import csources as store
from hub.subscriptions.matcher import new_notification_id
from hub.subscriptions.model import apply_members, parse_subscription, q_text

__all__ = ["apply_csource_members", "notification", "notifications_for_change",
           "parse_csource_subscription", "periodic_notifications",
           "render_csource_subscription", "subscription_matches"]

log = logging.getLogger("renkei.federation")

_CORE = "https://uri.etsi.org/ngsi-ld/"
Notification = tuple[str, str, dict[str, Any]]
Resolve = Callable[[dict[str, Any]], Awaitable[ActiveContext]]


def _fail(detail: str) -> BadRequestData:
    return BadRequestData(detail)


def _temporal_q(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("temporalQ must be an object")
    unknown = set(value) - {"timerel", "timeAt", "endTimeAt", "timeproperty"}
    if unknown:
        raise _fail(f"unknown temporalQ members {sorted(unknown)}")
    TemporalFilter(value.get("timerel", ""), value.get("timeAt", ""), value.get("endTimeAt"),
                   value.get("timeproperty"))  # BadRequestData when it is not one
    return dict(value)


def _csf(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail("csf must be a non-empty string")
    try:
        parse_q(q_text(value))
    except InvalidRequest as exc:
        raise _fail(f"csf: {exc.detail}") from None
    return value


def _own_members(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the members only registration subscriptions take from the shared ones."""
    own = {k: body[k] for k in ("temporalQ", "csf") if k in body}
    rest = {k: v for k, v in body.items() if k not in own}
    checked: dict[str, Any] = {}
    if "temporalQ" in own and own["temporalQ"] is not None:
        checked["temporalQ"] = _temporal_q(own["temporalQ"])
    if "csf" in own and own["csf"] is not None:
        checked["csf"] = _csf(own["csf"])
    return checked, rest


def parse_csource_subscription(body: dict[str, Any], ctx: ActiveContext, raw_context: Any
                               ) -> dict[str, Any]:
    """Validate a whole registration subscription (create); returns its stored form."""
    own, rest = _own_members(body)
    sub = parse_subscription(rest, ctx, raw_context)
    sub.update(own)
    return sub


def apply_csource_members(sub: dict[str, Any], members: dict[str, Any],
                          ctx: ActiveContext) -> None:
    """A PATCH (5.11.3): the members given replace the stored ones."""
    own, rest = _own_members(members)
    for key in ("temporalQ", "csf"):
        if key in members and members[key] is None:
            sub.pop(key, None)
    apply_members(sub, rest, ctx, creating=False)
    sub.update(own)


def render_csource_subscription(rendered: dict[str, Any], sub: dict[str, Any]
                                ) -> dict[str, Any]:
    """The entity-subscription rendering (``render_subscription``), adjusted: the members
    of registration subscriptions added, and no ``notificationTrigger``, which registration
    subscriptions do not have (their triggers are fixed by 5.11.7)."""
    out = dict(rendered)
    if "notificationTrigger" not in sub:
        out.pop("notificationTrigger", None)
    for key in ("temporalQ", "csf"):
        if key in sub:
            out[key] = sub[key]
    return out


# -- matching --------------------------------------------------------------------------

def _selectors(sub: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "entities" not in sub:
        return None
    out = []
    for sel in sub["entities"]:
        types = {sel["type"]} if "type" in sel else set(sel.get("typeNames", [])) or None
        out.append({"types": types, "ids": {sel["id"]} if "id" in sel else None,
                    "idPattern": sel.get("idPattern")})
    return out


def _geo(sub: dict[str, Any]) -> GeoQuery | None:
    geo = sub.get("geoQ")
    if not geo:
        return None
    prop = geo.get("geoproperty")
    if isinstance(prop, str) and prop.startswith(_CORE):
        prop = prop[len(_CORE):]  # location, observationSpace, operationSpace
    return parse_geo_query(geo["georel"], geo["geometry"], geo["coordinates"], prop)


def subscription_matches(sub: dict[str, Any], reg: dict[str, Any], ctx: ActiveContext
                         ) -> bool:
    """Does the registration (stored form) match the subscription's selection?"""
    q: QExpr | None = parse_q(q_text(sub["q"])) if "q" in sub else None
    csf: QExpr | None = parse_q(q_text(sub["csf"])) if "csf" in sub else None
    tq = sub.get("temporalQ")
    temporal = TemporalFilter(tq["timerel"], tq["timeAt"], tq.get("endTimeAt"),
                              tq.get("timeproperty")) if tq else None
    watched = sub.get("watchedAttributes")
    return matches_query(reg, selectors=_selectors(sub),
                         attrs=set(watched) if watched else None, q=q, csf=csf,
                         expand=ctx.expand, geo=_geo(sub), temporal=temporal)


async def notifications_for_change(
    subs: list[dict[str, Any]], before: dict[str, Any] | None, after: dict[str, Any] | None,
    resolve: Resolve,
) -> list[Notification]:
    """The notifications one registration change gives: ``before`` None for a creation,
    ``after`` None for a deletion. ``resolve`` gives a subscription's @context (to expand
    its ``q`` and render the registration as the subscriber reads it)."""
    items: list[Notification] = []
    for sub in subs:
        ctx = await resolve(sub)
        was = before is not None and _safe_match(sub, before, ctx)
        now = after is not None and _safe_match(sub, after, ctx)
        if now:
            reason = "updated" if was else "newlyMatching"
            shown = after
        elif was:
            reason, shown = "noLongerMatching", before
        else:
            continue
        assert shown is not None
        items.append(notification(sub, [shown], reason, ctx))
    return items


def notification(sub: dict[str, Any], regs: list[dict[str, Any]], reason: str,
                 ctx: ActiveContext) -> Notification:
    """One queued notification: the registrations rendered for the subscriber. The payload
    carries no stored entities (``csource``): what it shows is registration metadata,
    decided here, with secrets masked."""
    data = [render_registration(_relevant(sub, r, ctx), ctx) for r in regs]
    return new_notification_id(), sub["id"], {"data": data, "triggerReason": reason,
                                              "csource": True}


def _relevant(sub: dict[str, Any], reg: dict[str, Any], ctx: ActiveContext) -> dict[str, Any]:
    """5.11.7: rather than the original registration, the information relevant for the
    subscription — only the RegistrationInfo elements matching its ``entities`` and
    ``watchedAttributes``. A registration no element of which matches on its own (it
    matched through ``q``/``geoQ`` alone, or is no longer matching) keeps them all."""
    selectors = _selectors(sub)
    watched = sub.get("watchedAttributes")
    attrs = set(watched) if watched else None
    infos = reg.get("information")
    if (selectors is None and attrs is None) or not isinstance(infos, list):
        return reg
    kept = [info for info in infos
            if matches_query({"information": [info]}, selectors=selectors, attrs=attrs,
                             expand=ctx.expand)]
    return {**reg, "information": kept} if kept else reg


def _safe_match(sub: dict[str, Any], reg: dict[str, Any], ctx: ActiveContext) -> bool:
    """A subscription stored valid never fails to match; one that does (a regex RE2 now
    refuses) matches nothing rather than failing the registration write."""
    try:
        return subscription_matches(sub, reg, ctx)
    except (BadRequestData, InvalidRequest, ValueError, KeyError):
        return False


# -- periodic registration subscriptions (timeInterval) -----------------------------------

async def periodic_round(pool: asyncpg.Pool, schema: str, resolve: Resolve,
                         batch: int = 50) -> int:
    """One round for ``schema``: each due ``timeInterval`` subscription is sent the
    registrations matching it now (none matching: nothing sent), in one transaction with
    moving its next run on, into the same outbox as every notification. Returns how many
    notifications were queued."""
    async with pool.acquire() as con, con.transaction():
        due = await store.claim_periodic_csource_subscriptions(con, schema, batch)
        if not due:
            return 0
        regs = [r.body for r in await store.list_registrations(con, schema)]
        items = []
        for sub in due:
            ctx = await resolve(sub)
            matching = [r for r in regs if _safe_match(sub, r, ctx)]
            if matching:
                items.append(notification(sub, matching, "timeInterval", ctx))
        await store.queue_notifications(con, schema, items)
        return len(items)


async def periodic_notifications(app: web.Application) -> AsyncIterator[None]:
    """The background loop of periodic registration subscriptions (``app.cleanup_ctx``):
    every ``subscription_poll_interval`` seconds, each tenant's due subscriptions. Any
    number of hub processes share the work through row locks; a failed round is logged
    and the next one tries again."""
    settings = app[keys.SETTINGS]

    async def resolve(sub: dict[str, Any]) -> ActiveContext:
        raw = sub.get("jsonldContext", sub.get("context"))
        return await app[keys.CONTEXT_CACHE].get(raw, app[keys.CONTEXTS])

    async def loop() -> None:
        pool = app[keys.POOL]
        poll = max(settings.subscription_poll_interval, 0.25)
        streak = 0  # failed rounds in a row: logged once, retried with back-off
        while True:
            try:
                async with pool.acquire() as con:
                    schemas = await store.tenant_schemas(con)
                for schema in schemas:
                    await periodic_round(pool, schema, resolve)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive a failed round
                streak += 1
                if streak == 1:  # one line per outage, not one per round
                    log.warning("periodic registration notifications failing, backing off: %s",
                                type(exc).__name__, exc_info=not is_database_trouble(exc))
                await asyncio.sleep(min(poll * 2 ** (streak - 1), 30.0))
                continue
            if streak:
                log.warning("periodic registration notifications succeed again")
                streak = 0
            await asyncio.sleep(poll)

    task = asyncio.create_task(loop(), name="csource-periodic")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
