"""Typed application keys: every object shared across requests is reached through these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import asyncpg
from aiohttp import web

from hub.db.pool import DatabaseWatch
from hub.db.tenants import TenantDirectory
from hub.settings import Settings

if TYPE_CHECKING:
    from authz.external import ExternalIssuers
    from hub.egress import EgressPolicy
    from hub.jsonld.process import ContextCache
    from hub.jsonld.remote import ContextStore
    from hub.service.access_state import AccessState
    from hub.service.ownership import CallerResolver, RulesCache
    from hub.subscriptions.runtime import SubscriptionRuntime

__all__ = [
    "ACCESS",
    "CALLER_ORGANISATION",
    "CONTEXTS",
    "CONTEXT_CACHE",
    "DATABASE_URL",
    "DATABASE_WATCH",
    "EGRESS_POLICY",
    "EXTERNAL",
    "HTTP",
    "POOL",
    "QUERY_POOL",
    "REGISTRY_RULES",
    "SETTINGS",
    "SUBSCRIPTIONS",
    "TENANTS",
]

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
QUERY_POOL = web.AppKey("query_pool", asyncpg.Pool)
HTTP = web.AppKey("http", aiohttp.ClientSession)
TENANTS = web.AppKey("tenants", TenantDirectory)
CONTEXTS: web.AppKey[ContextStore] = web.AppKey("contexts")
CONTEXT_CACHE: web.AppKey[ContextCache] = web.AppKey("context_cache")
ACCESS: web.AppKey[AccessState] = web.AppKey("access")
EXTERNAL: web.AppKey[ExternalIssuers] = web.AppKey("external_issuers")
DATABASE_URL = web.AppKey("database_url", str)
#: whether PostgreSQL is reachable: one log line per outage (hub/db/pool.py)
DATABASE_WATCH = web.AppKey("database_watch", DatabaseWatch)
EGRESS_POLICY: web.AppKey[EgressPolicy] = web.AppKey("egress_policy")
SUBSCRIPTIONS: web.AppKey[SubscriptionRuntime] = web.AppKey("subscriptions")
#: The dataset rules every entity write applies (hub/service/ownership.py)
REGISTRY_RULES: web.AppKey[RulesCache] = web.AppKey("registry_rules")
#: THE identity plug-in point: request -> calling organisation's registry id, or None
#: when unknown (default ``ownership.no_identity``); access control replaces it
CALLER_ORGANISATION: web.AppKey[CallerResolver] = web.AppKey("caller_organisation")
