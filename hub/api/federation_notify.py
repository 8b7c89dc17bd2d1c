"""``POST /ngsi-ld/ex/v1/federation/notifications/{forwardId}``: notifications from context
sources for the subscriptions this hub made there (hub/federation/subscriptions.py).

The source calls without this hub's OAuth token (it has none): the route is public in
the route table and the forwardId itself — 256 random bits, given only to that source in
the subscription the hub made there, stored hashed — is the credential. An unknown,
malformed or forged forwardId, a deleted registration and a deleted subscription are the
same 404, before the body is read. The body is bounded by ``max_body_bytes`` (413 beyond)
and must be an NGSI-LD Notification (400 otherwise). What it carries is data of the
registration's owner, queued for the one subscription as its subscriber may receive it.

A forwardId's holder could otherwise queue rows as fast as it can post (an attack measured
14,000 rows from 20 requests in 2.5 s): each forwarding may deliver at most
``ENTITIES_PER_MINUTE`` entities per minute to the hub, counted like the clients' request
rates (a city's gauges changing every ten minutes are far below it), beyond which the
answer is 429 with ``Retry-After``; the subscription's bounded queue
(``notification_queue_limit``) is the second line.
"""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api.common import JSONLD, read_json, request_context
from hub.errors import TooManyRequests
from hub.federation import subscriptions as forwarded

__all__ = ["routes"]

routes = web.RouteTableDef()

#: entities one forwarding may deliver per minute
ENTITIES_PER_MINUTE = 6000


def _charge(request: web.Request, schema: str, fwd: forwarded.Forward, entities: int) -> None:
    """The forwarding's entities this minute, counted in the access state's rate windows
    (the clients' rates: one-minute windows summed across processes)."""
    key = f"forward:{schema}:{fwd.token_hash.hex()}"
    wait = request.app[keys.ACCESS].hit(key, ENTITIES_PER_MINUTE, entities)
    if wait is not None:
        raise TooManyRequests(f"this notification endpoint takes at most "
                              f"{ENTITIES_PER_MINUTE} entities a minute", retry_after=wait)


@routes.post(forwarded.NOTIFY_PATH)
async def receive_notification(request: web.Request) -> web.Response:
    schema, fwd, reg = await forwarded.lookup(request, request.match_info["forwardId"])
    body, media = await read_json(request)
    if media == JSONLD and isinstance(body, dict):  # @context on the Notification or on
        data = body.get("data")                     # its entities (5.3.1, 6.3.5)
        first = data[0] if isinstance(data, list) and data else None
        raw = body.get("@context") or (first.get("@context")
                                       if isinstance(first, dict) else None)
        rc = await request_context(request, {"@context": raw} if raw else body, media)
    else:
        rc = await request_context(request, body, media)
    entities, reason = forwarded.parse_notification(body, rc.active, fwd)
    _charge(request, schema, fwd, len(entities))
    await forwarded.receive(request, schema, fwd, reg, entities, reason)
    return web.Response(status=204)
