"""``create_app(settings)``: the one factory that wires the hub.

The PostgreSQL pool, the HTTP client and the @context store start and stop through
``app.cleanup_ctx``, in dependency order; handlers reach them through ``hub.keys``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from authz.policies import Defaults
from hub import keys
from hub.api import (
    aggregates,
    attributes,
    batch,
    catalog,
    contexts,
    csources,
    dashboard,
    discovery,
    entities,
    federation_notify,
    health,
    metrics,
    openapi,
    registry,
    subscriptions,
    temporal,
    unsupported,
)
from hub.api import contracts as contracts_api
from hub.db.embedded import EmbeddedPostgres
from hub.db.migrations import apply_all
from hub.db.pool import DatabaseWatch, create_pool, until_reachable
from hub.db.tenants import TenantDirectory
from hub.deadline import bulk_gate, deadline_middleware
from hub.egress import EgressPolicy
from hub.federation.csource_subscriptions import periodic_notifications
from hub.federation.forward import federation_context
from hub.heap import settled_heap
from hub.jsonld.process import ContextCache
from hub.jsonld.remote import ContextStore
from hub.middleware import error_middleware
from hub.service import access_app
from hub.service.history import housekeeping as history_housekeeping
from hub.service.ownership import RulesCache, no_identity
from hub.settings import Settings
from hub.subscriptions.delivery import DeliveryConfig
from hub.subscriptions.runtime import SubscriptionRuntime
from hub.subscriptions.visibility import SubscriberAccess

__all__ = ["create_app"]

log = logging.getLogger("renkei.hub")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if not url:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.get_running_loop().run_in_executor(None, embedded.start)
        log.info("using the embedded PostgreSQL", extra={"data_dir": str(embedded.data_dir)})
    limit, wait = settings.statement_timeout, settings.pool_acquire_timeout
    watch = DatabaseWatch(url)  # one log line per outage, not one per request
    # a hub started before its database waits for it (hub/db/pool.py until_reachable)
    pool = await until_reachable(lambda: create_pool(
        url, settings.pool_min, settings.pool_max, statement_timeout=limit,
        acquire_timeout=wait, watch=watch), "pool")
    query_pool = await until_reachable(lambda: create_pool(
        url, 1, max(2, settings.pool_max // 2), custom_plans=True, statement_timeout=limit,
        acquire_timeout=wait, watch=watch), "query pool")
    async with pool.acquire() as con:
        applied = await apply_all(con)
    if applied:
        log.info("migrations applied", extra={"count": applied})
    app[keys.POOL] = pool
    app[keys.DATABASE_URL] = url
    app[keys.DATABASE_WATCH] = watch
    app[keys.QUERY_POOL] = query_pool
    app[keys.TENANTS] = TenantDirectory()
    await app[keys.TENANTS].resolve(pool, None, create=True)
    try:
        yield
    finally:
        await watch.close()
        await query_pool.close()
        await pool.close()
        if embedded is not None:
            await asyncio.get_running_loop().run_in_executor(None, embedded.stop)


def _egress_policy(settings: Settings) -> EgressPolicy:
    """The one egress policy (hub/egress.py). The ``jwks_uri`` of each configured external
    issuer is the operator's own choice, so a literal address:port there is allowed too."""
    allow = [settings.egress_allow]
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        for issuer in orjson.loads(settings.external_issuers or "[]"):
            parts = urlsplit(str(issuer.get("jwks_uri", "")))
            port = parts.port or (443 if parts.scheme == "https" else 80)
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(parts.hostname or "")
                allow.append(f"[{parts.hostname}]:{port}")
    return EgressPolicy(enforce=settings.auth_mode != "dev", allow=",".join(allow),
                        denied=settings.notification_denied_networks)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    # every outbound HTTP connection is checked on the address it connects to
    async with aiohttp.ClientSession(connector=app[keys.EGRESS_POLICY].connector()) as session:
        app[keys.HTTP] = session
        yield


async def _context_store(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = ContextStore(app[keys.POOL], app[keys.HTTP], settings.context_fetch_timeout,
                         settings.max_context_bytes, enforce=settings.auth_mode != "dev",
                         quota=settings.context_quota,
                         max_entries=settings.context_cache_entries,
                         max_cached_bytes=settings.context_cache_bytes)
    app[keys.CONTEXTS] = store
    app[keys.CONTEXT_CACHE] = cache = ContextCache()
    store.on_change = cache.forget  # another process replaced or deleted a document
    await store.start(app[keys.DATABASE_URL])

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(10)
            try:
                await store.flush_usage()
            except Exception:  # usage counters are best effort
                log.warning("could not record @context usage", exc_info=True)

    task = asyncio.create_task(flush_forever())
    try:
        yield
    finally:
        task.cancel()
        await store.stop()
        await store.flush_usage()


async def _subscriptions(app: web.Application) -> AsyncIterator[None]:
    """The background matcher and deliverer of notifications (hub/subscriptions/)."""
    settings = app[keys.SETTINGS]
    policy = app[keys.EGRESS_POLICY]
    runtime = SubscriptionRuntime(
        app[keys.POOL], app[keys.DATABASE_URL], app[keys.HTTP], app[keys.CONTEXTS],
        app[keys.CONTEXT_CACHE], policy,
        DeliveryConfig(concurrency=settings.notification_concurrency,
                       timeout_s=settings.notification_timeout,
                       max_attempts=settings.notification_max_attempts,
                       max_bytes=settings.max_notification_bytes,
                       queue_limit=settings.notification_queue_limit,
                       lease_s=max(settings.notification_lease,
                                   settings.notification_timeout + 5)),
        SubscriberAccess(app[keys.ACCESS], Defaults(settings.authz_prefecture_default,
                                                     settings.authz_municipality_default),
                         dev=settings.auth_mode == "dev"),
        poll_s=settings.subscription_poll_interval, max_entities=settings.max_limit,
    )
    app[keys.SUBSCRIPTIONS] = runtime
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def _registry(app: web.Application) -> AsyncIterator[None]:
    rules = RulesCache(app[keys.POOL], app[keys.DATABASE_URL])
    app[keys.REGISTRY_RULES] = rules
    await rules.start()
    try:
        yield
    finally:
        await rules.stop()


async def _sample_data(app: web.Application) -> AsyncIterator[None]:
    if app[keys.SETTINGS].sample_data:
        from hub.sample import load_sample_data

        n = await load_sample_data(app)
        log.info("sample data loaded", extra={"entities": n})
        # the access state loaded before the sample registry existed: without this, reads
        # naming attributes are refused until its next periodic refresh
        await app[keys.ACCESS].refresh()
    yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware, deadline_middleware,
                                       bulk_gate(settings)],
                          client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.EGRESS_POLICY] = _egress_policy(settings)
    app[keys.CALLER_ORGANISATION] = no_identity  # the identity plug-in point (docs/registry.md)
    for ctx in (_database, _http_client, _context_store, _subscriptions, _registry,
                _sample_data, history_housekeeping, periodic_notifications, federation_context,
                settled_heap):
        app.cleanup_ctx.append(ctx)
    for module in (batch, attributes, entities, discovery, contexts, temporal, subscriptions,
                   aggregates, csources, federation_notify, contracts_api, registry, catalog,
                   health, metrics, unsupported, openapi):
        app.add_routes(module.routes)
        # clients (the ETSI suite among them) also call collection URLs with a trailing slash
        app.add_routes(
            web.route(r.method, r.path + "/", r.handler)
            for r in module.routes
            if isinstance(r, web.RouteDef) and not r.path.endswith("+}")
        )
    app.add_routes(dashboard.routes)  # its own /dashboard and /dashboard/ (no alias loop)
    access_app.install(app)  # access control: middleware, /oauth2, /authz/v1, state
    return app
