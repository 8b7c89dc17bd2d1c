"""The one route table: what every route of the hub needs before its handler runs.

Each route the application registers is listed here by its aiohttp *canonical* path (the
pattern, e.g. ``/ngsi-ld/v1/entities/{entityId}/attrs``) and method, with the one thing it
needs (``Need``). The access middleware looks the *resolved* route up
(``request.match_info.route``), never the raw path string: an entity id such as
``urn:x:%2Fsubscriptions`` is a value of ``{entityId}`` and cannot change which policy
applies, and ``//`` or percent-encoding tricks only ever reach a route aiohttp resolved.

Fail closed: a route missing from the table is refused (``Forbidden``, logged as an
error), and ``tests/security/test_routes.py`` walks ``app.router.routes()`` so a new
route without an entry fails CI before it is ever served.

Why each public entry is public: the catalogue, the contracts and the registry's
organisations and datasets describe data without revealing any entity (the DCAT catalogue
already shows them all); the JWKS and RFC 8414 metadata are public by their RFCs. The
OAuth token, introspection and revocation endpoints authenticate the client themselves
(RFC 6749 2.3, RFC 7662 2.1, RFC 7009 2.1), so no bearer token is asked for there.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from aiohttp import web

__all__ = ["ROUTES", "UNROUTED", "Need", "need_of", "route_need"]


class Need(StrEnum):
    """What a route needs. ``read`` … ``manage`` are token scopes (anonymous callers may
    only ``read``, and then only open data); ``public`` needs nothing and looks at no
    token; ``oauth`` endpoints authenticate the client themselves."""

    PUBLIC = "public"
    READ = "read"
    WRITE = "write"
    SUBSCRIBE = "subscribe"
    MANAGE = "manage"
    OAUTH = "oauth"


P, R, W, S, M, A = (Need.PUBLIC, Need.READ, Need.WRITE, Need.SUBSCRIBE, Need.MANAGE,
                    Need.OAUTH)
# A: the OAuth endpoints, which authenticate the client themselves
NGSI = "/ngsi-ld/v1"
REG = "/registry/v1"
AUTHZ = "/authz/v1"

#: canonical path (without the trailing-slash alias) -> method -> need; HEAD follows GET
ROUTES: Mapping[str, Mapping[str, Need]] = {
    # -- NGSI-LD (GS CIM 009) ------------------------------------------------------
    f"{NGSI}/entities": {"GET": R, "POST": W, "DELETE": W},
    f"{NGSI}/entities/{{entityId}}": {"GET": R, "PUT": W, "PATCH": W, "DELETE": W},
    f"{NGSI}/entities/{{entityId}}/attrs": {"POST": W, "PATCH": W},
    f"{NGSI}/entities/{{entityId}}/attrs/{{attrId}}": {"PUT": W, "PATCH": W, "DELETE": W},
    f"{NGSI}/entityOperations/create": {"POST": W},
    f"{NGSI}/entityOperations/upsert": {"POST": W},
    f"{NGSI}/entityOperations/update": {"POST": W},
    f"{NGSI}/entityOperations/merge": {"POST": W},
    f"{NGSI}/entityOperations/delete": {"POST": W},
    f"{NGSI}/entityOperations/query": {"POST": R},
    f"{NGSI}/types": {"GET": R},
    f"{NGSI}/types/{{type}}": {"GET": R},
    f"{NGSI}/attributes": {"GET": R},
    f"{NGSI}/attributes/{{attrId}}": {"GET": R},
    f"{NGSI}/jsonldContexts": {"GET": R, "POST": W},
    f"{NGSI}/jsonldContexts/{{contextId}}": {"GET": R, "DELETE": W},
    f"{NGSI}/subscriptions": {"GET": S, "POST": S},
    f"{NGSI}/subscriptions/{{subscriptionId}}": {"GET": S, "PATCH": S, "DELETE": S},
    f"{NGSI}/temporal/entities": {"GET": R, "POST": W},
    f"{NGSI}/temporal/entities/{{entityId}}": {"GET": R, "DELETE": W},
    f"{NGSI}/temporal/entities/{{entityId}}/attrs": {"POST": W},
    f"{NGSI}/temporal/entities/{{entityId}}/attrs/{{attrId}}": {"DELETE": W},
    f"{NGSI}/temporal/entities/{{entityId}}/attrs/{{attrId}}/{{instanceId}}":
        {"PATCH": W, "DELETE": W},
    # context sources (hub/api/csources.py: owner-only changes checked by the handler),
    # then what hub/api/unsupported.py answers 501 for: what the operation would need
    f"{NGSI}/csourceRegistrations": {"GET": R, "POST": W},
    f"{NGSI}/csourceRegistrations/{{registrationId}}": {"GET": R, "PATCH": W, "DELETE": W},
    f"{NGSI}/csourceSubscriptions": {"GET": S, "POST": S},
    f"{NGSI}/csourceSubscriptions/{{subscriptionId}}": {"GET": S, "PATCH": S, "DELETE": S},
    f"{NGSI}/temporal/entityOperations/query": {"POST": R},
    f"{NGSI}/info/sourceIdentity": {"GET": R},
    f"{NGSI}/info/conformance": {"GET": R},
    "/ngsi-ld/ex/v1/aggregates": {"GET": R},
    # the subscription's dead letters: its own organisation only (checked by the handler)
    "/ngsi-ld/ex/v1/subscriptions/{subscriptionId}/deadLetters": {"GET": S},
    "/ngsi-ld/ex/v1/subscriptions/{subscriptionId}/deadLetters/replay": {"POST": S},
    # a context source notifying a subscription this hub made there
    # (hub/federation/subscriptions.py): the source holds no token of ours, so the route is
    # public and the forwardId in the path (256 random bits given to that source only,
    # stored hashed) is the credential; anything else is 404 before the body is read, and
    # the data goes to the subscriber only through its own rights
    "/ngsi-ld/ex/v1/federation/notifications/{forwardId}": {"POST": P},
    # -- catalogue and contracts: describe data, reveal no entity -----------------
    # -- orchestrator probes (hub/api/health.py): up / ready, which check failed, no data
    "/health": {"GET": P},
    "/ready": {"GET": P},
    # this process's counters (hub/api/metrics.py): the platform operator's only
    "/metrics": {"GET": M},
    # -- the flood-watch page (hub/api/dashboard.py): static files holding no data; the
    #    page's API calls carry the viewer's own token -----------------------------------
    "/dashboard": {"GET": P},
    "/dashboard/{asset}": {"GET": P},
    "/catalog": {"GET": P},
    "/catalog/datasets/{datasetId}": {"GET": P},
    "/contracts": {"GET": P},
    "/contracts/v1/context.jsonld": {"GET": P},
    "/contracts/{name}/{version}/schema.json": {"GET": P},
    # -- the OpenAPI description of every route here, and a page rendering it -----
    "/openapi.json": {"GET": P},
    "/docs/api": {"GET": P},
    # -- registry: what the catalogue shows is public; adapters and runs are the
    #    owner's (their config holds credentials, their errors row content) ----------
    f"{REG}/organisations": {"GET": P, "POST": M},
    f"{REG}/organisations/{{orgId}}": {"GET": P, "PUT": M, "DELETE": M},
    f"{REG}/datasets": {"GET": P, "POST": M},
    f"{REG}/datasets/{{datasetId}}": {"GET": P, "PUT": M, "DELETE": M},
    f"{REG}/owner": {"GET": P},
    f"{REG}/openapi.json": {"GET": P},
    f"{REG}/adapters": {"GET": M, "POST": M},
    f"{REG}/adapters/{{adapterId}}": {"GET": M, "PUT": M, "DELETE": M},
    f"{REG}/adapters/{{adapterId}}/runs": {"GET": M, "POST": M},
    f"{REG}/adapters/{{adapterId}}/run-now": {"POST": M},
    # -- access-control management ---------------------------------------------------
    f"{AUTHZ}/clients": {"GET": M, "POST": M},
    f"{AUTHZ}/clients/{{client_id}}": {"DELETE": M},
    f"{AUTHZ}/clients/{{client_id}}/rotate": {"POST": M},
    f"{AUTHZ}/grants": {"GET": M, "POST": M},
    f"{AUTHZ}/grants/{{grant_id}}/approve": {"POST": M},
    f"{AUTHZ}/grants/{{grant_id}}/reject": {"POST": M},
    f"{AUTHZ}/grants/{{grant_id}}/revoke": {"POST": M},
    f"{AUTHZ}/audit": {"GET": M},
    f"{AUTHZ}/keys/rotate": {"POST": M},
    # -- OAuth 2 authorization server ------------------------------------------------
    "/oauth2/token": {"POST": A},
    "/oauth2/introspect": {"POST": A},
    "/oauth2/revoke": {"POST": A},
    "/oauth2/jwks": {"GET": P},
    "/.well-known/oauth-authorization-server": {"GET": P},
}


class _Unrouted:
    """No route matched (aiohttp answers 404 or 405 itself): nothing to protect."""

    def __repr__(self) -> str:
        return "UNROUTED"


UNROUTED = _Unrouted()


def need_of(method: str, canonical: str) -> Need | None:
    """The need of one registered route; None when the table has no entry (refuse)."""
    path = canonical[:-1] if len(canonical) > 1 and canonical.endswith("/") else canonical
    methods = ROUTES.get(path)
    if methods is None:
        return None
    return methods.get("GET" if method == "HEAD" else method)


def route_need(request: web.Request) -> Need | _Unrouted | None:
    """What the request's *resolved* route needs: ``UNROUTED`` when aiohttp matched no
    route (its own 404/405 follows), None when the route has no entry (refuse)."""
    info = request.match_info
    if info.http_exception is not None:
        return UNROUTED
    resource = info.route.resource
    if resource is None:
        return None
    return need_of(info.route.method, resource.canonical)
